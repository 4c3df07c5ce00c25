import type { Knex } from 'knex';

import { createCategory, findCategory } from '../../src/db/categories.js';
import type { QueueRecord } from '../../src/db/queues.js';
import { createRoutingRule } from '../../src/db/routing-rules.js';
import { createUser, findUserByAlias } from '../../src/db/users.js';
import { billingMailbox, supportMailbox } from './case-environment.js';
import type { CaseExpectation, CaseTicketFields } from './case-format.js';

/** Statuses the product seeds; the case reset empties the table, so they are written again. */
const seededStatuses = ['new', 'open', 'pending', 'solved', 'closed'];

/** Ticket fields and matched rule names of one input's ticket, read after the last input. */
export interface RoutedInput {
  fields: Required<CaseTicketFields>;
  matchedRules: string[];
}

/**
 * Maps a queue reference in a case rule to the case's queue number. A case cannot know the
 * numbers the runner picks, so it names a queue "support" or "billing" (or its mailbox
 * address). A number is kept as it is.
 */
function queueNumberOf(reference: unknown, queues: { support: QueueRecord; billing: QueueRecord }): unknown {
  if (typeof reference !== 'string') return reference;
  const name = reference.trim().toLowerCase();
  if (name === 'support' || name === supportMailbox.user) return queues.support.number;
  if (name === 'billing' || name === billingMailbox.user) return queues.billing.number;
  return reference;
}

function mapQueues(document: Record<string, unknown>, queues: { support: QueueRecord; billing: QueueRecord }): Record<string, unknown> {
  const conditions = Array.isArray(document.conditions)
    ? document.conditions.map((condition: Record<string, unknown>) => (condition?.field === 'queue' ? { ...condition, value: queueNumberOf(condition.value, queues) } : condition))
    : document.conditions;
  const mappedQueues = Array.isArray(document.queues) ? document.queues.map((reference) => queueNumberOf(reference, queues)) : document.queues;
  return { ...document, ...(document.queues === undefined ? {} : { queues: mappedQueues }), ...(conditions === undefined ? {} : { conditions }) };
}

/** Names of the categories, statuses and owner aliases a rule document sets. */
function referencesOf(document: Record<string, unknown>): { categories: string[]; statuses: string[]; owners: string[] } {
  const actions = Array.isArray(document.actions) ? (document.actions as Array<Record<string, unknown>>) : [];
  const strings = (value: unknown): string[] => {
    if (typeof value === 'string') return [value];
    if (Array.isArray(value)) return value.filter((entry): entry is string => typeof entry === 'string');
    return [];
  };
  const valuesOf = (type: string, key: string): string[] => actions.flatMap((action) => (action.type === type ? strings(action[key]) : []));

  return {
    categories: valuesOf('setCategory', 'category'),
    statuses: [...valuesOf('setStatus', 'status'), ...valuesOf('addStatuses', 'statuses')],
    owners: valuesOf('setOwner', 'owner'),
  };
}

/**
 * Saves a case's `config.routing_rules` for its queues, in order. The categories,
 * statuses and users the rules name are created first, because a case brings no
 * installation of its own. A rule the product rejects fails the case with the
 * product's message, which names the field.
 */
export async function saveCaseRoutingRules(db: Knex, expected: CaseExpectation, queues: { support: QueueRecord; billing: QueueRecord }): Promise<void> {
  const rules = expected.config?.routing_rules;
  if (rules === undefined) return;
  if (!Array.isArray(rules)) throw new Error('config.routing_rules must be a list of rule documents');

  await db('statuses').insert(seededStatuses.map((name) => ({ name }))).onConflict('name').ignore();
  for (const queue of [queues.support, queues.billing]) {
    if (queue.category !== null && (await findCategory(db, queue.category)) === null) await createCategory(db, { name: queue.category });
  }

  for (const [index, rule] of rules.entries()) {
    const document = mapQueues(rule as Record<string, unknown>, queues);
    const references = referencesOf(document);
    for (const name of references.categories) {
      if ((await findCategory(db, name)) === null) await createCategory(db, { name });
    }
    if (references.statuses.length > 0) await db('statuses').insert(references.statuses.map((name) => ({ name }))).onConflict('name').ignore();
    for (const alias of references.owners) {
      if ((await findUserByAlias(db, alias)) === null) await createUser(db, { alias, email: `${alias.toLowerCase()}@helpdesk.example.com` });
    }
    try {
      await createRoutingRule(db, document);
    } catch (error) {
      throw new Error(`config.routing_rules.${index}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/** Reads, for each input on a ticket, that ticket's routed fields and the names of the rules that matched the input. */
export async function readRoutedInputs(db: Knex, inputRows: Map<number, number>): Promise<Map<number, RoutedInput>> {
  const result = new Map<number, RoutedInput>();
  for (const [input, rowId] of inputRows) {
    const message: { ticket_id: number | null } | undefined = await db('messages').where({ id: rowId }).first('ticket_id');
    if (!message || message.ticket_id === null) continue;

    const ticket: {
      category: string | null;
      priority: string;
      status: string;
      stage: string | null;
      owner_user_id: number | null;
      extra_statuses: string[];
      custom_fields: Record<string, string>;
    } = await db('tickets').where({ id: message.ticket_id }).first('category', 'priority', 'status', 'stage', 'owner_user_id', 'extra_statuses', 'custom_fields');
    const owner: { alias: string } | undefined = ticket.owner_user_id === null ? undefined : await db('users').where({ id: ticket.owner_user_id }).first('alias');
    const events: Array<{ data: { rules?: Array<{ name: string }> } }> = await db('ticket_events').where({ message_row_id: rowId, kind: 'routing' }).select('data');

    result.set(input, {
      fields: {
        category: ticket.category,
        priority: ticket.priority,
        status: ticket.status,
        stage: ticket.stage,
        owner: owner?.alias ?? null,
        extra_statuses: ticket.extra_statuses,
        custom_fields: ticket.custom_fields,
      },
      matchedRules: events.flatMap((event) => (event.data.rules ?? []).map((rule) => rule.name)),
    });
  }
  return result;
}

/** Compares one ticket field per input: a string applies to every input, a record names inputs. */
export function checkFieldPerInput(key: 'category' | 'priority', wanted: string | Record<string, string | null> | undefined, routed: Map<number, RoutedInput>): string[] {
  if (wanted === undefined) return [];
  const entries: Array<[number, string | null]> = typeof wanted === 'string' ? [...routed.keys()].map((input) => [input, wanted]) : Object.entries(wanted).map(([input, value]) => [Number(input), value]);

  return entries.flatMap(([input, value]) => {
    const actual = routed.get(input);
    if (!actual) return [`${key}: input ${input} is on no ticket`];
    return actual.fields[key] === value ? [] : [`${key} of input ${input}'s ticket: expected ${JSON.stringify(value)}, got ${JSON.stringify(actual.fields[key])}`];
  });
}

/** Compares the listed fields of each input's ticket; fields a case leaves out are not compared. */
export function checkTicketFields(wanted: Record<string, CaseTicketFields> | undefined, routed: Map<number, RoutedInput>): string[] {
  return Object.entries(wanted ?? {}).flatMap(([inputText, fields]) => {
    const actual = routed.get(Number(inputText));
    if (!actual) return [`ticket_fields: input ${inputText} is on no ticket`];
    return Object.entries(fields).flatMap(([name, value]) => {
      if (!(name in actual.fields)) return [`ticket_fields.${inputText}.${name} is not a field this runner reads`];
      const got = actual.fields[name as keyof CaseTicketFields];
      return JSON.stringify(got) === JSON.stringify(value) ? [] : [`ticket_fields.${inputText}.${name}: expected ${JSON.stringify(value)}, got ${JSON.stringify(got)}`];
    });
  });
}

/** Compares the names of the rules that matched each listed input, in order. */
export function checkMatchedRules(wanted: Record<string, string[]> | undefined, routed: Map<number, RoutedInput>): string[] {
  return Object.entries(wanted ?? {}).flatMap(([inputText, names]) => {
    const actual = routed.get(Number(inputText))?.matchedRules ?? [];
    return JSON.stringify(actual) === JSON.stringify(names) ? [] : [`routing_rules_matched.${inputText}: expected ${JSON.stringify(names)}, got ${JSON.stringify(actual)}`];
  });
}
