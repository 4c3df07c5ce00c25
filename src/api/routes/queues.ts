import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import { queryQueueStatus, signalConfigChanged, signalSetActive, startQueueWorkflow } from '../../client/queue-control.js';
import { loadQueueReferenceNames, queueJson } from '../../db/queue-views.js';
import { createQueue, findQueueByNumber, isPasswordSmtpOutgoing, listQueues, loadImapConnection, loadPop3Connection, loadSmtpConnection, requireQueueByNumber, setQueueActive, setQueuePassword, softDeleteQueue, suggestQueueNumber, updateQueue, type QueueRecord } from '../../db/queues.js';
import { withDefaultProtocols } from '../../domain/queue-config.js';
import { MailqueueError } from '../../errors.js';
import { ApiError, ErrorCode, notFound } from '../errors.js';
import { numberParams, parseQueueDocument, queueDocument, queueResponse, queueUpdateDocument } from '../schemas.js';
import type { RouteContext } from '../server.js';

/** Queues: configuration (admin), workflow control and status, and write-only credentials. */

const tags = ['queues'];

interface NumberParams {
  number: number;
}

const signalledResponse = {
  type: 'object',
  properties: {
    number: { type: 'integer' },
    active: { type: 'boolean' },
    running: { type: 'boolean', description: 'False when the queue has no running workflow: the change is stored and applies when it starts' },
  },
} as const;

const statusResponse = {
  type: 'object',
  properties: {
    number: { type: 'integer' },
    running: { type: 'boolean' },
    status: { type: ['object', 'null'], additionalProperties: true, description: "The workflow's status query result, or null when no workflow runs" },
  },
} as const;

const passwordBody = {
  type: 'object',
  required: ['password'],
  additionalProperties: false,
  properties: { password: { type: 'string', minLength: 1, maxLength: 4096, writeOnly: true } },
} as const;

/**
 * Fills the protocols a queue document may leave out (incoming imap, outgoing smtp or the
 * incoming side's method) before the JSON schema checks the body, as the queue file's
 * zod schema does, so the API accepts every document `mailqueue queue create --file` accepts.
 */
async function defaultProtocols(request: FastifyRequest): Promise<void> {
  request.body = withDefaultProtocols(request.body);
}

interface PartialQueueDocument {
  incoming?: { password?: unknown };
  outgoing?: { user?: unknown; password?: unknown } | null;
}

/**
 * Fills the passwords an update leaves out from the stored ones, so a client can send back
 * the queue it read. The outgoing password is kept only while the outgoing user is unchanged.
 */
async function withStoredPasswords(db: Knex, secretKey: Buffer, queue: QueueRecord, body: unknown): Promise<unknown> {
  const document = structuredClone(body) as PartialQueueDocument;
  // Only password protocols keep a password; OAuth2 protocols keep their sign-in in the connection.
  if (document.incoming !== undefined && document.incoming.password === undefined) {
    if (queue.incoming.protocol === 'imap') document.incoming.password = (await loadImapConnection(db, secretKey, queue)).password;
    if (queue.incoming.protocol === 'pop3') document.incoming.password = (await loadPop3Connection(db, secretKey, queue)).password;
  }

  const outgoing = document.outgoing;
  const stored = queue.outgoing;
  if (outgoing && outgoing.password === undefined && outgoing.user !== undefined && stored !== null && isPasswordSmtpOutgoing(stored) && stored.user === outgoing.user && stored.credentialId !== null) {
    outgoing.password = (await loadSmtpConnection(db, secretKey, queue)).password ?? undefined;
  }
  return document;
}

export function registerQueueRoutes(app: FastifyInstance, context: RouteContext): void {
  const { db, temporal, secretKey, taskQueue } = context;

  app.get<{ Querystring: { includeDeleted?: boolean } }>(
    '/queues',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'List queues',
        querystring: { type: 'object', additionalProperties: false, properties: { includeDeleted: { type: 'boolean', default: false } } },
        response: { 200: { type: 'array', items: queueResponse } },
      },
    },
    async (request) => {
      const [queues, names] = await Promise.all([listQueues(db, { includeDeleted: request.query.includeDeleted }), loadQueueReferenceNames(db)]);
      return queues.map((queue) => queueJson(queue, names));
    },
  );

  app.post<{ Body: unknown; Querystring: { start?: boolean } }>(
    '/queues',
    {
      config: { access: 'admin' },
      preValidation: defaultProtocols,
      schema: {
        tags,
        summary: 'Create a queue',
        description: 'Takes a queue document; `number` omitted: the next free number. `?start=true` starts its workflow.',
        querystring: { type: 'object', additionalProperties: false, properties: { start: { type: 'boolean', default: false } } },
        body: queueDocument,
        response: { 201: queueResponse, 409: { description: 'The number is used by another queue, deleted ones included', $ref: 'ErrorBody#' } },
      },
    },
    async (request, reply) => {
      const config = parseQueueDocument(request.body);
      if (config.number !== undefined && (await findQueueByNumber(db, config.number, { includeDeleted: true })) !== null) {
        throw new ApiError(409, ErrorCode.Conflict, `Queue number ${config.number} is already used (numbers are never reused): leave "number" out, or take GET /queues/suggest-number`, { field: 'body.number' });
      }
      let created: QueueRecord;
      try {
        created = await createQueue(db, secretKey, config);
      } catch (error) {
        // Another request took the number between the check above and the insert.
        if (error instanceof MailqueueError && typeof error.details.number === 'number') throw new ApiError(409, ErrorCode.Conflict, error.message, { field: 'body.number' });
        throw error;
      }
      if (request.query.start) await startQueueWorkflow(temporal, created, taskQueue);
      return reply.status(201).send(queueJson(created, await loadQueueReferenceNames(db)));
    },
  );

  app.get(
    '/queues/suggest-number',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Suggest the next queue number',
        description: 'The next number no queue ever had, deleted queues included.',
        response: { 200: { type: 'object', properties: { number: { type: 'integer' } } } },
      },
    },
    async () => ({ number: await suggestQueueNumber(db) }),
  );

  app.get<{ Params: NumberParams }>(
    '/queues/:number',
    { config: { access: 'admin' }, schema: { tags, summary: 'Show a queue (deleted ones too)', params: numberParams, response: { 200: queueResponse } } },
    async (request) => {
      const queue = await findQueueByNumber(db, request.params.number, { includeDeleted: true });
      if (queue === null) throw notFound(`Queue ${request.params.number}`);
      return queueJson(queue, await loadQueueReferenceNames(db));
    },
  );

  app.put<{ Params: NumberParams; Body: unknown }>(
    '/queues/:number',
    {
      config: { access: 'admin' },
      preValidation: defaultProtocols,
      schema: {
        tags,
        summary: "Replace a queue's settings",
        description: 'Takes the whole queue document; a password left out keeps the stored one. `active` is left alone (use pause and resume). A running workflow reloads the settings.',
        params: numberParams,
        body: queueUpdateDocument,
        response: { 200: queueResponse },
      },
    },
    async (request) => {
      const queue = await requireQueueByNumber(db, request.params.number);
      const document = await withStoredPasswords(db, secretKey, queue, request.body);
      const updated = await updateQueue(db, secretKey, queue.number, parseQueueDocument(document));
      await signalConfigChanged(temporal, updated.number);
      return queueJson(updated, await loadQueueReferenceNames(db));
    },
  );

  app.delete<{ Params: NumberParams }>(
    '/queues/:number',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Delete a queue (soft: tickets stay, the number is never reused)', params: numberParams, response: { 204: { type: 'null', description: 'Deleted' } } },
    },
    async (request, reply) => {
      const queue = await requireQueueByNumber(db, request.params.number);
      await softDeleteQueue(db, queue.id);
      await signalConfigChanged(temporal, queue.number);
      return reply.status(204).send();
    },
  );

  app.post<{ Params: NumberParams }>(
    '/queues/:number/start',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: "Start a queue's workflow (idempotent)",
        params: numberParams,
        response: { 200: { type: 'object', properties: { workflowId: { type: 'string' }, started: { type: 'boolean' } } } },
      },
    },
    async (request) => startQueueWorkflow(temporal, await requireQueueByNumber(db, request.params.number), taskQueue),
  );

  for (const [action, active] of [['pause', false], ['resume', true]] as const) {
    app.post<{ Params: NumberParams }>(
      `/queues/:number/${action}`,
      {
        config: { access: 'admin' },
        schema: {
          tags,
          summary: active ? 'Resume receiving mail; fetches at once' : 'Stop receiving mail (outgoing mail continues)',
          params: numberParams,
          response: { 200: signalledResponse },
        },
      },
      async (request) => {
        const queue = await requireQueueByNumber(db, request.params.number);
        await setQueueActive(db, queue.id, active);
        const running = await signalSetActive(temporal, queue.number, active);
        return { number: queue.number, active, running };
      },
    );
  }

  app.get<{ Params: NumberParams }>(
    '/queues/:number/status',
    { config: { access: 'admin' }, schema: { tags, summary: "The workflow's status query", params: numberParams, response: { 200: statusResponse } } },
    async (request) => {
      const queue = await requireQueueByNumber(db, request.params.number);
      let status;
      try {
        status = await queryQueueStatus(temporal, queue.number);
      } catch (error) {
        // With no worker polling, the Temporal dev server failed the query after 30 seconds (measured).
        if (!(error instanceof Error && error.name === 'ServiceError')) throw error;
        request.log.warn({ err: error, queueNumber: queue.number, requestId: request.id }, 'queue status query failed');
        throw new ApiError(503, ErrorCode.ServiceUnavailable, `Queue ${queue.number}'s workflow did not respond to the status query: check that the Temporal server and a worker (mailqueue worker) run`);
      }
      return { number: queue.number, running: status !== null, status };
    },
  );

  for (const side of ['incoming', 'outgoing'] as const) {
    app.put<{ Params: NumberParams; Body: { password: string } }>(
      `/queues/:number/credentials/${side}`,
      {
        config: { access: 'admin' },
        schema: {
          tags,
          summary: `Set the ${side} password (write-only)`,
          description: 'Stores the password encrypted; it is never returned or logged. A running workflow uses it from its next connection.',
          params: numberParams,
          body: passwordBody,
          response: { 204: { type: 'null', description: 'Stored' } },
        },
      },
      async (request, reply) => {
        await setQueuePassword(db, secretKey, request.params.number, side, request.body.password);
        await signalConfigChanged(temporal, request.params.number);
        return reply.status(204).send();
      },
    );
  }
}
