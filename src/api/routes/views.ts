import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { findUserByAlias, userRoles, type UserRole } from '../../db/users.js';
import { parseViewDefinition } from '../../domain/view-definition.js';
import { createView, deleteView, findViewForUser, listViewsForUser, shareView, unshareView, updateView, type ViewRecord, type ViewShareTarget } from '../../db/views.js';
import { currentUser, type ApiUser } from '../auth.js';
import { ApiError, ErrorCode, fromFieldIssues, notFound } from '../errors.js';
import { bodyIssuesFromLines, positiveInteger, timestamp } from '../schemas.js';
import type { RouteContext } from '../server.js';

/**
 * Saved ticket views. Everyone lists and opens the views they may open and saves their
 * own; the owner or an admin changes, deletes and shares a view.
 */

const tags = ['views'];

const idParams = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: positiveInteger } } as const;

const definitionSchema = {
  type: 'object',
  description: 'filters (categories, statuses, stages, priorities, owners, queues, customFields, idle and date ranges) and order; docs/views.md',
  additionalProperties: false,
  properties: { filters: { type: 'object', additionalProperties: true }, order: { type: 'array', maxItems: 10, items: { type: 'object', additionalProperties: true } } },
} as const;

const viewResponse = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    ownerAlias: { type: ['string', 'null'] },
    definition: { type: 'object', additionalProperties: true },
    shares: { type: 'array', items: { type: 'object', properties: { alias: { type: ['string', 'null'] }, role: { type: ['string', 'null'] } } } },
    createdAt: timestamp,
    updatedAt: timestamp,
  },
} as const;

const shareBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  description: 'Exactly one of user (an alias) or role',
  properties: { user: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,100}$' }, role: { type: 'string', enum: [...userRoles] } },
} as const;

/** Loads a view the user may open; one they may not open gets the response of a missing one. */
async function openableView(db: Knex, user: ApiUser, id: number): Promise<ViewRecord> {
  const view = await findViewForUser(db, user, id);
  if (view === null) throw notFound('The view');
  return view;
}

/** Loads a view the user may change: their own, or any they may open when they are an admin. */
async function changeableView(db: Knex, user: ApiUser, id: number): Promise<ViewRecord> {
  const view = await openableView(db, user, id);
  if (view.ownerUserId !== user.id && user.role !== 'admin') {
    throw new ApiError(403, ErrorCode.Forbidden, `View ${id} belongs to ${view.ownerAlias ?? 'nobody'}: only its owner or an admin may change it; save a copy of your own instead`);
  }
  return view;
}

/** Checks a view definition so each problem is reported under `body.definition.FIELD`; the repository checks the owners it names. */
function assertValidDefinition(definition: unknown): void {
  const parsed = parseViewDefinition(definition);
  if (parsed.value === null) throw fromFieldIssues(bodyIssuesFromLines(parsed.errors.map((line) => `definition.${line}`)));
}

async function shareTarget(db: Knex, body: { user?: string; role?: UserRole }): Promise<ViewShareTarget> {
  if (body.role !== undefined) return { role: body.role };
  const user = await findUserByAlias(db, body.user ?? '');
  if (user === null) throw new ApiError(400, ErrorCode.ValidationFailed, `body.user: no user has the alias "${body.user}"`, { field: 'body.user' });
  return { userId: user.id };
}

export function registerViewRoutes(app: FastifyInstance, context: RouteContext): void {
  const { db } = context;

  app.get(
    '/views',
    { config: { access: 'agent' }, schema: { tags, summary: 'List the views you may open', response: { 200: { type: 'array', items: viewResponse } } } },
    async (request) => listViewsForUser(db, currentUser(request)),
  );

  app.post<{ Body: { name: string; definition: unknown } }>(
    '/views',
    {
      config: { access: 'agent' },
      schema: {
        tags,
        summary: 'Save a view of your own',
        body: { type: 'object', required: ['name', 'definition'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, definition: definitionSchema } },
        response: { 201: viewResponse },
      },
    },
    async (request, reply) => {
      assertValidDefinition(request.body.definition);
      return reply.status(201).send(await createView(db, { name: request.body.name, ownerUserId: currentUser(request).id, definition: request.body.definition }));
    },
  );

  app.get<{ Params: { id: number } }>(
    '/views/:id',
    { config: { access: 'agent' }, schema: { tags, summary: 'Show a view', params: idParams, response: { 200: viewResponse } } },
    async (request) => openableView(db, currentUser(request), request.params.id),
  );

  app.patch<{ Params: { id: number }; Body: { name?: string; definition?: unknown } }>(
    '/views/:id',
    {
      config: { access: 'agent' },
      schema: {
        tags,
        summary: 'Rename a view or replace its definition (owner or admin)',
        params: idParams,
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, definition: definitionSchema } },
        response: { 200: viewResponse },
      },
    },
    async (request) => {
      const view = await changeableView(db, currentUser(request), request.params.id);
      if (request.body.definition !== undefined) assertValidDefinition(request.body.definition);
      return updateView(db, view.id, request.body);
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/views/:id',
    { config: { access: 'agent' }, schema: { tags, summary: 'Delete a view (owner or admin)', params: idParams, response: { 204: { type: 'null', description: 'Deleted' } } } },
    async (request, reply) => {
      const view = await changeableView(db, currentUser(request), request.params.id);
      await deleteView(db, view.id);
      return reply.status(204).send();
    },
  );

  for (const share of [true, false]) {
    app.post<{ Params: { id: number }; Body: { user?: string; role?: UserRole } }>(
      `/views/:id/${share ? 'share' : 'unshare'}`,
      {
        config: { access: 'agent' },
        schema: {
          tags,
          summary: share ? 'Share a view with a user or every user of a role (owner or admin)' : 'Take a share away (owner or admin)',
          params: idParams,
          body: shareBody,
          response: { 200: viewResponse },
        },
      },
      async (request) => {
        const user = currentUser(request);
        const view = await changeableView(db, user, request.params.id);
        const target = await shareTarget(db, request.body);
        if (share) await shareView(db, view.id, target);
        else await unshareView(db, view.id, target);
        return openableView(db, user, view.id);
      },
    );
  }
}
