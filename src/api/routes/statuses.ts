import type { FastifyInstance } from 'fastify';
import { createStatus, findStatusByName, listStatuses } from '../../db/statuses.js';
import { ApiError, ErrorCode } from '../errors.js';
import { timestamp } from '../schemas.js';
import type { RouteContext } from '../server.js';

/** Ticket statuses: every user reads them, admins add new ones. */

const tags = ['statuses'];

const statusResponse = {
  type: 'object',
  properties: { name: { type: 'string' }, description: { type: 'string' }, createdAt: timestamp },
} as const;

export function registerStatusRoutes(app: FastifyInstance, context: RouteContext): void {
  const { db } = context;

  app.get(
    '/statuses',
    { config: { access: 'agent' }, schema: { tags, summary: 'List ticket statuses', response: { 200: { type: 'array', items: statusResponse } } } },
    async () => listStatuses(db),
  );

  app.post<{ Body: { name: string; description?: string } }>(
    '/statuses',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Add a ticket status',
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,49}$', description: 'Lower-case letters, digits, "-" or "_"' },
            description: { type: 'string', maxLength: 2000 },
          },
        },
        response: { 201: statusResponse, 409: { description: 'A status of that name exists', $ref: 'ErrorBody#' } },
      },
    },
    async (request, reply) => {
      if ((await findStatusByName(db, request.body.name)) !== null) {
        throw new ApiError(409, ErrorCode.Conflict, `Status "${request.body.name}" already exists: choose another name`, { field: 'body.name' });
      }
      return reply.status(201).send(await createStatus(db, request.body));
    },
  );
}
