import type { FastifyInstance } from 'fastify';
import { createCategory, deleteCategory, findCategory, listCategories } from '../../db/categories.js';
import { MailqueueError } from '../../errors.js';
import { ApiError, ErrorCode, notFound } from '../errors.js';
import { timestamp } from '../schemas.js';
import type { RouteContext } from '../server.js';

/** Ticket categories: every user reads them, admins add and delete. */

const tags = ['categories'];

const categoryResponse = {
  type: 'object',
  properties: { name: { type: 'string' }, description: { type: 'string' }, createdAt: timestamp },
} as const;

const nameParams = { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1, maxLength: 100 } } } as const;

export function registerCategoryRoutes(app: FastifyInstance, context: RouteContext): void {
  const { db } = context;

  app.get(
    '/categories',
    { config: { access: 'agent' }, schema: { tags, summary: 'List categories', response: { 200: { type: 'array', items: categoryResponse } } } },
    async () => listCategories(db),
  );

  app.post<{ Body: { name: string; description?: string } }>(
    '/categories',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Create a category',
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1, maxLength: 100 }, description: { type: 'string', maxLength: 1000 } },
        },
        response: { 201: categoryResponse, 409: { description: 'A category of that name exists, in any letter case', $ref: 'ErrorBody#' } },
      },
    },
    async (request, reply) => {
      const requestedName = request.body.name.trim().toLowerCase();
      const existing = (await listCategories(db)).find((category) => category.name.toLowerCase() === requestedName);
      if (existing !== undefined) {
        throw new ApiError(409, ErrorCode.Conflict, `Category "${existing.name}" already exists: choose another name`, { field: 'body.name' });
      }
      return reply.status(201).send(await createCategory(db, request.body));
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/categories/:name',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Delete a category no queue or routing rule uses',
        params: nameParams,
        response: { 204: { type: 'null', description: 'Deleted' }, 409: { description: 'A queue or routing rule still uses it', $ref: 'ErrorBody#' } },
      },
    },
    async (request, reply) => {
      if ((await findCategory(db, request.params.name)) === null) throw notFound(`Category "${request.params.name}"`);
      try {
        await deleteCategory(db, request.params.name);
      } catch (error) {
        // The repository names the queues or rules that still use the category.
        if (error instanceof MailqueueError && (error.details.queues !== undefined || error.details.rules !== undefined)) throw new ApiError(409, ErrorCode.Conflict, error.message);
        throw error;
      }
      return reply.status(204).send();
    },
  );
}
