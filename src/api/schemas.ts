import { z } from 'zod';
import { queueConfigSchema } from '../domain/queue-config.js';
import { fromFieldIssues } from './errors.js';

/**
 * JSON schemas shared by the route modules. The queue document's schema is derived
 * from the zod schema of the queue file, so the API and `mailqueue queue create --file`
 * accept exactly the same documents.
 */

type JsonSchema = Record<string, unknown>;

/** Marks every `password` property write-only, so the OpenAPI document states that it is never returned. */
function markPasswordsWriteOnly(schema: unknown): void {
  if (Array.isArray(schema)) {
    for (const item of schema) markPasswordsWriteOnly(item);
    return;
  }
  if (schema === null || typeof schema !== 'object') return;

  const node = schema as JsonSchema;
  const properties = node.properties as Record<string, JsonSchema> | undefined;
  if (properties?.password !== undefined) properties.password.writeOnly = true;
  for (const value of Object.values(node)) markPasswordsWriteOnly(value);
}

/**
 * Adds `discriminator: { propertyName: 'protocol' }` to every `oneOf` whose alternatives each
 * fix `protocol` to one value. Ajv then checks only the alternative the protocol names, so a
 * bad port is reported once rather than once per protocol, and the OpenAPI document states it.
 */
function markProtocolDiscriminators(schema: unknown): void {
  if (Array.isArray(schema)) {
    for (const item of schema) markProtocolDiscriminators(item);
    return;
  }
  if (schema === null || typeof schema !== 'object') return;

  const node = schema as JsonSchema;
  const alternatives = node.oneOf as JsonSchema[] | undefined;
  const byProtocol = (alternative: JsonSchema): boolean => {
    const properties = alternative.properties as Record<string, JsonSchema> | undefined;
    return typeof properties?.protocol?.const === 'string' && Array.isArray(alternative.required) && alternative.required.includes('protocol');
  };
  if (Array.isArray(alternatives) && alternatives.length > 0 && alternatives.every(byProtocol)) {
    node.discriminator = { propertyName: 'protocol' };
    // Ajv's discriminator passes any value that is not an object, so the type is checked here.
    node.type = 'object';
  }
  for (const value of Object.values(node)) markProtocolDiscriminators(value);
}

/**
 * Converts a zod schema's input to JSON schema, for ajv and the OpenAPI document. Checks
 * that JSON schema cannot express stay in zod, which runs after it in the handler.
 */
export function jsonSchemaOf(schema: z.ZodType, description: string): JsonSchema {
  const json = z.toJSONSchema(schema, { io: 'input', target: 'draft-7', unrepresentable: 'any' }) as JsonSchema;
  delete json.$schema;
  markPasswordsWriteOnly(json);
  markProtocolDiscriminators(json);
  return { ...json, description };
}

/** Request body of queue create. */
export const queueDocument = jsonSchemaOf(
  queueConfigSchema,
  'A queue document: the fields of a queue file (docs/queue-config.md). Passwords are write-only. `protocol` may be left out as in a queue file: incoming imap, outgoing smtp, or with `useSameMethodAsIncoming` the incoming side\'s method.',
);

/** Returns a copy of `schema` in which no object requires a `password`. */
function withoutRequiredPasswords(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutRequiredPasswords);
  if (schema === null || typeof schema !== 'object') return schema;

  const copy: JsonSchema = {};
  for (const [key, value] of Object.entries(schema as JsonSchema)) {
    copy[key] = key === 'required' && Array.isArray(value) ? value.filter((name) => name !== 'password') : withoutRequiredPasswords(value);
  }
  return copy;
}

/** Request body of queue update: like create, but a password left out keeps the stored one. */
export const queueUpdateDocument = {
  ...(withoutRequiredPasswords(queueDocument) as JsonSchema),
  description: 'A queue document as for create. A password left out keeps the stored one; the outgoing one only while the outgoing user stays the same.',
};

/**
 * Turns `path: problem` lines, the form the domain validators report in, into field
 * issues under `body`. A line without a path is about the body as a whole.
 */
export function bodyIssuesFromLines(lines: string[]): Array<{ field: string; message: string }> {
  return lines.map((line) => {
    const match = /^([A-Za-z0-9_.[\]-]+): (.*)$/s.exec(line);
    return match === null ? { field: 'body', message: line } : { field: `body.${match[1]}`, message: match[2] };
  });
}

/**
 * Validates a queue document with the zod schema after the JSON schema passed: it adds
 * the checks JSON schema cannot express (trimmed names, field combinations, address patterns).
 *
 * @throws ApiError (400 validation_failed) naming each field as `body.FIELD`.
 */
export function parseQueueDocument(body: unknown): z.output<typeof queueConfigSchema> {
  const result = queueConfigSchema.safeParse(body);
  if (result.success) return result.data;

  const issues = result.error.issues.flatMap((issue) => {
    const path = ['body', ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ field: `${path}.${key}`, message: 'is not a known field: remove it or check its spelling' }));
    return [{ field: path, message: issue.message }];
  });
  throw fromFieldIssues(issues);
}

export const positiveInteger = { type: 'integer', minimum: 1, maximum: 2_000_000_000 } as const;

/** Path parameters `{ number }` of a queue or ticket. */
export const numberParams = {
  type: 'object',
  required: ['number'],
  additionalProperties: false,
  properties: { number: positiveInteger },
} as const;

/** Path parameters `{ name }` of a named record such as a template. */
export const nameParams = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

export const nullableString = { type: ['string', 'null'] } as const;
export const timestamp = { type: 'string', format: 'date-time' } as const;

/** A queue as the API returns it: no passwords, no credential ids. */
export const queueResponse = {
  type: 'object',
  properties: {
    number: { type: 'integer' },
    title: { type: 'string' },
    description: { type: 'string' },
    active: { type: 'boolean' },
    category: nullableString,
    pollIntervalSeconds: { type: 'integer' },
    maxMessageBytes: { type: 'integer' },
    // Open objects: each protocol has fields of its own (provider, integration, mailbox, …),
    // and a response schema drops every property it does not declare.
    incoming: {
      type: 'object',
      additionalProperties: true,
      properties: {
        protocol: { type: 'string' },
        provider: { type: 'string' },
        integration: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'integer' },
        user: { type: 'string' },
        ssl: { type: 'boolean' },
        sslTrusted: { type: 'boolean' },
        dontKeepEmails: { type: 'boolean' },
        processedFolder: nullableString,
        folder: { type: 'string' },
      },
    },
    outgoing: {
      type: ['object', 'null'],
      additionalProperties: true,
      properties: {
        protocol: { type: 'string' },
        useSameMethodAsIncoming: { type: 'boolean' },
        host: { type: 'string' },
        port: { type: 'integer' },
        user: nullableString,
        security: { type: 'string' },
        sslTrusted: { type: 'boolean' },
      },
    },
    senderAddress: nullableString,
    replyTo: nullableString,
    senderInfoTemplate: nullableString,
    signatureTemplate: nullableString,
    npsSurveyTemplate: nullableString,
    autoresponseTemplate: nullableString,
    timeGroup: nullableString,
    autoresponseExceptions: { type: 'array', items: { type: 'string' } },
    autoresponseRateLimit: {
      type: ['object', 'null'],
      properties: { max: { type: 'number' }, windowSeconds: { type: 'number' } },
    },
    postprocessing: {
      type: ['object', 'null'],
      properties: { workflowType: { type: 'string' }, taskQueue: { type: 'string' }, timeoutSeconds: { type: 'integer' } },
    },
    agents: {
      type: 'object',
      additionalProperties: true,
      description: 'The agents section of the queue document',
      properties: { wrapUpSeconds: { type: 'integer' }, offerTimeoutSeconds: { type: 'integer' }, allowMultipleStatuses: { type: 'boolean' } },
    },
    workflowId: { type: 'string' },
    createdAt: timestamp,
    deletedAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

/**
 * preValidation hook of a route whose body is optional: a request without a body is
 * validated and handled as `{}`, so callers need not send an empty JSON object.
 */
export async function absentBodyAsEmpty(request: { body: unknown }): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {};
}

/** A body that is an object and carries nothing: for actions such as pause. */
export const emptyObject = { type: 'object', additionalProperties: false, properties: {} } as const;
