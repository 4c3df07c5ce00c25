import { z } from 'zod';

import { describeIssues } from './validation-messages.js';

/** Ticket priorities, lowest first; sorting by priority follows this order, not the alphabet. */
export const ticketPriorities = ['low', 'normal', 'high', 'urgent'] as const;
export type TicketPriority = (typeof ticketPriorities)[number];

/** Fields a view may order by. */
export const viewOrderFields = ['number', 'createdAt', 'updatedAt', 'lastActivityAt', 'priority', 'status', 'category'] as const;
export type ViewOrderField = (typeof viewOrderFields)[number];

/** Owner filter words besides user aliases: the viewing user, and tickets without an owner. */
export const OWNER_ME = 'me';
export const OWNER_NONE = 'none';

const MAX_LIST_LENGTH = 500;
const MAX_IDLE_SECONDS = 10 * 366 * 86_400;

const nameList = (example: string) =>
  z.array(z.string().trim().min(1, `must not be empty: give a name such as ${example}`).max(200)).min(1, 'must not be an empty list: leave the field out to match every ticket').max(MAX_LIST_LENGTH);

const customFieldValue = z.union([z.string(), z.number(), z.boolean()], { error: 'must be a string, number or boolean' });

const timestamp = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time with an offset, such as 2026-01-31T09:00:00Z or 2026-01-31T10:00:00+01:00' });

const idleSeconds = z
  .number({ error: 'must be a number of seconds' })
  .int('must be a whole number of seconds')
  .min(0, 'must be 0 or more seconds')
  .max(MAX_IDLE_SECONDS, `must be at most ${MAX_IDLE_SECONDS} seconds (ten years)`);

const filtersSchema = z
  .strictObject({
    categories: nameList('"UK Leads"').optional(),
    statuses: nameList('"new"').optional(),
    stages: nameList('"qualified"').optional(),
    priorities: z.array(z.enum(ticketPriorities, { error: `must be one of ${ticketPriorities.join(', ')}` })).min(1, 'must not be an empty list: leave the field out to match every priority').optional(),
    /** User aliases, "me" for the user looking at the view, "none" for tickets without an owner. */
    owners: z
      .array(z.string().trim().toLowerCase().regex(/^[a-z0-9._-]{1,100}$/, `must be a user alias, "${OWNER_ME}" or "${OWNER_NONE}"`))
      .min(1, 'must not be an empty list: leave the field out to match every owner')
      .max(MAX_LIST_LENGTH)
      .optional(),
    /** Queue numbers, as in `mailqueue queue list`. */
    queues: z.array(z.number({ error: 'must be a queue number' }).int('must be a whole queue number').min(1, 'must be a queue number of 1 or more')).min(1, 'must not be an empty list: leave the field out to match every queue').max(MAX_LIST_LENGTH).optional(),
    /** Field name to the value it must have, or to a list of accepted values. */
    customFields: z
      .record(z.string().min(1, 'custom field names must not be empty').max(200), z.union([customFieldValue, z.array(customFieldValue).min(1, 'must not be an empty list')]))
      .optional(),
    idleForAtLeastSeconds: idleSeconds.optional(),
    idleForAtMostSeconds: idleSeconds.optional(),
    /** Ranges include their start (`…From`) and exclude their end (`…To`), so consecutive ranges do not overlap. */
    createdFrom: timestamp.optional(),
    createdTo: timestamp.optional(),
    updatedFrom: timestamp.optional(),
    updatedTo: timestamp.optional(),
  })
  .superRefine((filters, context) => {
    if (filters.idleForAtLeastSeconds !== undefined && filters.idleForAtMostSeconds !== undefined && filters.idleForAtLeastSeconds > filters.idleForAtMostSeconds) {
      context.addIssue({ code: 'custom', path: ['idleForAtMostSeconds'], message: `must not be less than idleForAtLeastSeconds (${filters.idleForAtLeastSeconds}): no ticket could match` });
    }
    for (const [from, to] of [['createdFrom', 'createdTo'], ['updatedFrom', 'updatedTo']] as const) {
      const start = filters[from];
      const end = filters[to];
      if (start !== undefined && end !== undefined && Date.parse(start) >= Date.parse(end)) {
        context.addIssue({ code: 'custom', path: [to], message: `must be later than ${from} (${start}): ${from} is included, ${to} is not, so no ticket could match` });
      }
    }
  });

const orderSchema = z
  .array(
    z.strictObject({
      field: z.enum(viewOrderFields, { error: `must be one of ${viewOrderFields.join(', ')}` }),
      direction: z.enum(['asc', 'desc'], { error: 'must be "asc" or "desc"' }).default('asc'),
    }),
  )
  .max(viewOrderFields.length, `must have at most ${viewOrderFields.length} entries, one per field`)
  .superRefine((order, context) => {
    const seen = new Set<string>();
    order.forEach((entry, index) => {
      if (seen.has(entry.field)) context.addIssue({ code: 'custom', path: [index, 'field'], message: `"${entry.field}" appears twice: keep the first, remove this one` });
      seen.add(entry.field);
    });
  });

const definitionSchema = z.strictObject({
  filters: filtersSchema.default({}),
  order: orderSchema.default([]),
});

export type ViewFilters = z.output<typeof filtersSchema>;
export type ViewOrder = z.output<typeof orderSchema>;
export type ViewDefinition = z.output<typeof definitionSchema>;
export type ViewDefinitionInput = z.input<typeof definitionSchema>;

/** The order used when a view names none: most recent activity first. */
export const defaultViewOrder: ViewOrder = [{ field: 'lastActivityAt', direction: 'desc' }];

export type ParseResult<T> = { value: T; errors: [] } | { value: null; errors: string[] };

function parseWith<T>(schema: z.ZodType<T>, document: unknown, pathPrefix: string): ParseResult<T> {
  const result = schema.safeParse(document);
  if (result.success) return { value: result.data, errors: [] };
  return { value: null, errors: describeIssues(result.error.issues).map((line) => (pathPrefix === '' || line.startsWith('(document)') ? line : `${pathPrefix}.${line}`)) };
}

/**
 * Validates a view definition `{ filters, order }`. Each error is one line starting with
 * the field path (`filters.priorities.0: must be one of …`) and saying how to fix it.
 */
export function parseViewDefinition(document: unknown): ParseResult<ViewDefinition> {
  return parseWith(definitionSchema, document, '');
}

/** Validates filters given on their own, e.g. as query parameters of the HTTP API; paths start with `filters`. */
export function parseViewFilters(document: unknown): ParseResult<ViewFilters> {
  return parseWith(filtersSchema, document, 'filters');
}

/** Validates an ordering given on its own; paths start with `order`. */
export function parseViewOrder(document: unknown): ParseResult<ViewOrder> {
  return parseWith(orderSchema, document, 'order');
}

/** Rank of a priority for sorting: low 0 … urgent 3. */
export function priorityRank(priority: TicketPriority): number {
  return ticketPriorities.indexOf(priority);
}
