import type { FastifyInstance } from 'fastify';
import { createApiToken, findApiToken, listApiTokens, revokeApiToken } from '../../db/api-tokens.js';
import { findCategory } from '../../db/categories.js';
import { createUser, findUserByAlias, grantCategory, listUserCategories, listUsers, revokeCategory, updateUser, userRoles, validateUserInput, type UserChanges, type UserRecord, type UserRole } from '../../db/users.js';
import { currentUser } from '../auth.js';
import { ApiError, ErrorCode, fromFieldIssues, notFound } from '../errors.js';
import { positiveInteger, timestamp } from '../schemas.js';
import type { RouteContext } from '../server.js';
import type { Knex } from 'knex';

/** Users, their roles and category rights, and their API tokens (admin); `GET /me` for everyone. */

const tags = ['users'];

const aliasSchema = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,100}$' } as const;
const aliasParams = { type: 'object', required: ['alias'], additionalProperties: false, properties: { alias: aliasSchema } } as const;
const categoryParams = {
  type: 'object',
  required: ['alias', 'category'],
  additionalProperties: false,
  properties: { alias: aliasSchema, category: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

const userResponse = {
  type: 'object',
  properties: {
    alias: { type: 'string' },
    name: { type: 'string' },
    email: { type: 'string' },
    role: { type: 'string', enum: [...userRoles] },
    active: { type: 'boolean' },
    categories: { type: 'array', items: { type: 'string' }, description: 'Categories whose tickets the user sees' },
    createdAt: timestamp,
  },
} as const;

const tokenResponse = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    prefix: { type: 'string', description: 'The first characters of the token, to tell tokens apart' },
    createdAt: timestamp,
    lastUsedAt: { type: ['string', 'null'], format: 'date-time' },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

const userFields = {
  email: { type: 'string', minLength: 3, maxLength: 320 },
  name: { type: 'string', maxLength: 200 },
  role: { type: 'string', enum: [...userRoles] },
} as const;

async function userJson(db: Knex, user: UserRecord) {
  return { alias: user.alias, name: user.name, email: user.email, role: user.role, active: user.active, categories: await listUserCategories(db, user.id), createdAt: user.createdAt };
}

/**
 * Checks a user's fields with the repository's rules. Each problem line starts with
 * the field it is about (alias, email, name, role), which becomes `body.FIELD`.
 */
function assertValidUser(input: { alias: string; email: string; name?: string; role?: UserRole }): void {
  const problems = validateUserInput(input);
  if (problems.length > 0) throw fromFieldIssues(problems.map((line) => ({ field: `body.${line.split(' ')[0]}`, message: line })));
}

async function requireUser(db: Knex, alias: string): Promise<UserRecord> {
  const user = await findUserByAlias(db, alias);
  if (user === null) throw notFound(`User "${alias}"`);
  return user;
}

export function registerUserRoutes(app: FastifyInstance, context: RouteContext): void {
  const { db } = context;

  app.get(
    '/me',
    { config: { access: 'agent' }, schema: { tags, summary: 'The user the token belongs to, with the categories they see', response: { 200: userResponse } } },
    async (request) => userJson(db, await requireUser(db, currentUser(request).alias)),
  );

  app.get(
    '/users',
    { config: { access: 'admin' }, schema: { tags, summary: 'List users', response: { 200: { type: 'array', items: userResponse } } } },
    async () => Promise.all((await listUsers(db)).map((user) => userJson(db, user))),
  );

  app.post<{ Body: { alias: string; email: string; name?: string; role?: UserRole } }>(
    '/users',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Create a user',
        body: { type: 'object', required: ['alias', 'email'], additionalProperties: false, properties: { alias: aliasSchema, ...userFields } },
        response: { 201: userResponse, 409: { description: 'The alias is taken', $ref: 'ErrorBody#' } },
      },
    },
    async (request, reply) => {
      assertValidUser(request.body);
      if ((await findUserByAlias(db, request.body.alias)) !== null) {
        throw new ApiError(409, ErrorCode.Conflict, `User alias "${request.body.alias.toLowerCase()}" is already taken: choose another alias`, { field: 'body.alias' });
      }
      return reply.status(201).send(await userJson(db, await createUser(db, request.body)));
    },
  );

  app.get<{ Params: { alias: string } }>(
    '/users/:alias',
    { config: { access: 'admin' }, schema: { tags, summary: 'Show a user', params: aliasParams, response: { 200: userResponse } } },
    async (request) => userJson(db, await requireUser(db, request.params.alias)),
  );

  app.patch<{ Params: { alias: string }; Body: UserChanges }>(
    '/users/:alias',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: "Change a user's email, name, role or active flag",
        description: 'An inactive user keeps their history, but their tokens stop working and they see no tickets.',
        params: aliasParams,
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { ...userFields, active: { type: 'boolean' } } },
        response: { 200: userResponse },
      },
    },
    async (request) => {
      const user = await requireUser(db, request.params.alias);
      assertValidUser({ alias: user.alias, email: request.body.email ?? user.email, name: request.body.name, role: request.body.role });
      return userJson(db, await updateUser(db, user.id, request.body));
    },
  );

  for (const grant of [true, false]) {
    const method = grant ? 'put' : 'delete';
    app[method]<{ Params: { alias: string; category: string } }>(
      '/users/:alias/categories/:category',
      {
        config: { access: 'admin' },
        schema: {
          tags,
          summary: grant ? 'Let the user see the tickets of a category' : 'Take a category right away',
          description: 'Applies to the next request at once.',
          params: categoryParams,
          response: { 200: userResponse },
        },
      },
      async (request) => {
        const user = await requireUser(db, request.params.alias);
        if ((await findCategory(db, request.params.category)) === null) throw notFound(`Category "${request.params.category}"`);
        if (grant) await grantCategory(db, user.id, request.params.category);
        else await revokeCategory(db, user.id, request.params.category);
        return userJson(db, user);
      },
    );
  }

  app.get<{ Params: { alias: string } }>(
    '/users/:alias/tokens',
    { config: { access: 'admin' }, schema: { tags, summary: "List a user's API tokens (never the tokens themselves)", params: aliasParams, response: { 200: { type: 'array', items: tokenResponse } } } },
    async (request) => listApiTokens(db, (await requireUser(db, request.params.alias)).id),
  );

  app.post<{ Params: { alias: string }; Body: { name: string } }>(
    '/users/:alias/tokens',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Create an API token for a user',
        description: 'The response contains the token once. Only its hash is stored, so it cannot be shown again.',
        params: aliasParams,
        body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1, maxLength: 100, description: 'What the token is for, such as "reporting script"' } } },
        response: { 201: { type: 'object', properties: { token: { type: 'string' }, ...tokenResponse.properties } } },
      },
    },
    async (request, reply) => {
      const user = await requireUser(db, request.params.alias);
      const created = await createApiToken(db, user.id, request.body.name);
      return reply.status(201).send({ token: created.token, ...created.record });
    },
  );

  app.delete<{ Params: { alias: string; id: number } }>(
    '/users/:alias/tokens/:id',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Revoke an API token',
        params: { type: 'object', required: ['alias', 'id'], additionalProperties: false, properties: { alias: aliasSchema, id: positiveInteger } },
        response: { 204: { type: 'null', description: 'Revoked' } },
      },
    },
    async (request, reply) => {
      const user = await requireUser(db, request.params.alias);
      const token = await findApiToken(db, request.params.id);
      if (token === null || token.userId !== user.id) throw notFound(`Token ${request.params.id} of user "${user.alias}"`);
      await revokeApiToken(db, token.id);
      return reply.status(204).send();
    },
  );
}
