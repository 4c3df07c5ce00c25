import type { FastifyInstance } from 'fastify';
import { assignQueueToHelpdesk, createHelpdesk, deleteHelpdesk, findHelpdeskByName, listHelpdesks } from '../../db/helpdesks.js';
import { requireQueueByNumber } from '../../db/queues.js';
import { ApiError, ErrorCode, notFound } from '../errors.js';
import { numberParams, timestamp } from '../schemas.js';
import type { RouteContext } from '../server.js';

/** Helpdesks: named groups of queues; admin only. */

const tags = ['helpdesks'];

const helpdeskName = { type: 'string', minLength: 1, maxLength: 100 } as const;
const nameParams = { type: 'object', required: ['name'], additionalProperties: false, properties: { name: helpdeskName } } as const;

const helpdeskResponse = {
  type: 'object',
  properties: { name: { type: 'string' }, description: { type: 'string' }, queueNumbers: { type: 'array', items: { type: 'integer' } }, createdAt: timestamp },
} as const;

export function registerHelpdeskRoutes(app: FastifyInstance, context: RouteContext): void {
  const { db } = context;

  app.get(
    '/helpdesks',
    { config: { access: 'admin' }, schema: { tags, summary: 'List helpdesks with their queue numbers', response: { 200: { type: 'array', items: helpdeskResponse } } } },
    async () => listHelpdesks(db),
  );

  app.post<{ Body: { name: string; description?: string } }>(
    '/helpdesks',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Create a helpdesk',
        body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: helpdeskName, description: { type: 'string', maxLength: 1000 } } },
        response: { 201: helpdeskResponse, 409: { description: 'A helpdesk of that name exists', $ref: 'ErrorBody#' } },
      },
    },
    async (request, reply) => {
      if ((await findHelpdeskByName(db, request.body.name)) !== null) {
        throw new ApiError(409, ErrorCode.Conflict, `Helpdesk "${request.body.name.trim()}" already exists: choose another name`, { field: 'body.name' });
      }
      return reply.status(201).send(await createHelpdesk(db, request.body));
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/helpdesks/:name',
    { config: { access: 'admin' }, schema: { tags, summary: 'Delete a helpdesk; its queues stay', params: nameParams, response: { 204: { type: 'null', description: 'Deleted' } } } },
    async (request, reply) => {
      const helpdesk = await findHelpdeskByName(db, request.params.name);
      if (helpdesk === null || !(await deleteHelpdesk(db, helpdesk.id))) throw notFound(`Helpdesk "${request.params.name}"`);
      return reply.status(204).send();
    },
  );

  app.put<{ Params: { number: number }; Body: { helpdesk: string | null } }>(
    '/queues/:number/helpdesk',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Put a queue into a helpdesk, or take it out with null',
        params: numberParams,
        body: { type: 'object', required: ['helpdesk'], additionalProperties: false, properties: { helpdesk: { type: ['string', 'null'], minLength: 1, maxLength: 100 } } },
        response: { 200: { type: 'object', properties: { number: { type: 'integer' }, helpdesk: { type: ['string', 'null'] } } } },
      },
    },
    async (request) => {
      const queue = await requireQueueByNumber(db, request.params.number);
      const name = request.body.helpdesk;
      const helpdesk = name === null ? null : await findHelpdeskByName(db, name);
      if (name !== null && helpdesk === null) throw new ApiError(400, ErrorCode.ValidationFailed, `body.helpdesk: helpdesk "${name}" does not exist: create it with POST /helpdesks`, { field: 'body.helpdesk' });
      await assignQueueToHelpdesk(db, queue.id, helpdesk?.id ?? null);
      return { number: queue.number, helpdesk: helpdesk?.name ?? null };
    },
  );
}
