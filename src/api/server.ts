import fastifySwagger from '@fastify/swagger';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RouteOptions } from 'fastify';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { TASK_QUEUE } from '../config.js';
import { redactedPaths } from '../logger.js';
import { databaseTokenLookup, registerAuth, type RouteAccessEntry, type TokenLookup } from './auth.js';
import { createErrorHandler, errorBodySchema } from './errors.js';
import { registerActivityRoutes } from './routes/activities.js';
import { registerAgentRoutes } from './routes/agents.js';
import { registerCategoryRoutes } from './routes/categories.js';
import { registerHelpdeskRoutes } from './routes/helpdesks.js';
import { registerOAuthRoutes } from './routes/oauth.js';
import { registerQueueAgentRoutes } from './routes/queue-agents.js';
import { registerQueueRoutes } from './routes/queues.js';
import { registerRoutingRuleRoutes } from './routes/routing-rules.js';
import { registerStatusRoutes } from './routes/statuses.js';
import { registerTemplateRoutes } from './routes/templates.js';
import { registerTicketRoutes } from './routes/tickets.js';
import { registerTimeGroupRoutes } from './routes/time-groups.js';
import { registerUserRoutes } from './routes/users.js';
import { registerViewRoutes } from './routes/views.js';

/** Dependencies of the route handlers, built once per server. */
export interface ApiDependencies {
  db: Knex;
  temporal: Client;
  /** Encrypts passwords written through the API. */
  secretKey: Buffer;
  logger: Logger;
  /** Task queue of the workflows the API starts; default the mailqueue task queue. */
  taskQueue?: string;
  /** Resolves a bearer token to its user; default the hashed tokens in the database. */
  findUserByToken?: TokenLookup;
}

/** Dependencies as route modules see them, with defaults filled in. */
export interface RouteContext {
  db: Knex;
  temporal: Client;
  secretKey: Buffer;
  logger: Logger;
  taskQueue: string;
}

export interface ApiServer {
  app: FastifyInstance;
  /** Every registered route with its declared access, filled while routes register. */
  routes: RouteAccessEntry[];
}

/** Largest accepted request body: replies carry base64 attachments. */
const BODY_LIMIT_BYTES = 30 * 1024 * 1024;

/** Headers that carry credentials; never written to a log line. */
const redactedRequestPaths = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'];

const errorResponses = {
  400: { description: 'The request is invalid; `error.field` names the part at fault', $ref: 'ErrorBody#' },
  401: { description: 'No token, or a token that is unknown or revoked', $ref: 'ErrorBody#' },
  403: { description: 'The token belongs to a user without the role this operation needs', $ref: 'ErrorBody#' },
  404: { description: 'No such record, or one the caller may not see', $ref: 'ErrorBody#' },
} as const;

/** Derives a stable operation id from method and path, such as `getQueuesByNumberStatus`, for client generators. */
function operationId(method: string, url: string): string {
  const words = url
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => (segment.startsWith(':') ? `by-${segment.slice(1)}` : segment))
    .flatMap((segment) => segment.split(/[-_.]/))
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1));
  return `${method.toLowerCase()}${words.join('')}`;
}

/** Adds the operation id, the bearer security requirement and the shared error responses to each route's schema. */
function documentRoute(route: RouteOptions): void {
  const access = (route.config as { access?: string } | undefined)?.access;
  const schema = (route.schema ?? {}) as Record<string, unknown>;
  const response = (schema.response ?? {}) as Record<string, unknown>;
  const shared = access === 'public' ? {} : errorResponses;
  route.schema = {
    operationId: operationId([route.method].flat()[0], route.url),
    ...schema,
    ...(access === 'public' ? {} : { security: [{ bearerAuth: [] }] }),
    response: { ...shared, ...response },
  };
}

/**
 * Builds the HTTP API without listening: JSON-schema validation on every route, the
 * OpenAPI document at `GET /openapi.json`, bearer tokens and per-route roles. Callers
 * `listen()` (the `mailqueue api` command, the dev stack) or `inject()` (tests).
 */
export async function buildApiServer(deps: ApiDependencies): Promise<ApiServer> {
  const logger = deps.logger.child({ component: 'api' }, { redact: { paths: [...redactedPaths, ...redactedRequestPaths], censor: '[redacted]' } });
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    ajv: {
      // Unknown fields are rejected rather than dropped, and every problem is reported at once.
      // Defaults are applied by the handlers (the queue document's by its zod schema), not by ajv.
      // The discriminator keyword makes a queue protocol's alternative the only one checked.
      customOptions: { removeAdditional: false, allErrors: true, coerceTypes: 'array', useDefaults: false, discriminator: true },
    },
  });

  app.setErrorHandler(createErrorHandler(logger));
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: { code: 'not_found', message: `No route ${request.method} ${request.url.split('?')[0]}: see GET /openapi.json for the routes` } });
  });
  app.addSchema(errorBodySchema);

  app.addHook('onRoute', documentRoute);
  const routes = registerAuth(app, deps.findUserByToken ?? databaseTokenLookup(deps.db));

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'mailqueue HTTP API', version: '1', description: 'Queues, configuration, tickets and replies, agents and email activities, and OAuth2 mailboxes of mailqueue. Every route except this document and the OAuth2 callback needs "Authorization: Bearer TOKEN".' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API token; an admin creates one with POST /users/{alias}/tokens' } } },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, index) => (typeof json.$id === 'string' ? json.$id : `def-${index}`) },
  });

  const context: RouteContext = { db: deps.db, temporal: deps.temporal, secretKey: deps.secretKey, logger, taskQueue: deps.taskQueue ?? TASK_QUEUE };

  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger());
  await app.register(async (scope) => {
    registerQueueRoutes(scope, context);
    registerTemplateRoutes(scope, context);
    registerTimeGroupRoutes(scope, context);
    registerStatusRoutes(scope, context);
    registerCategoryRoutes(scope, context);
    registerRoutingRuleRoutes(scope, context);
    registerHelpdeskRoutes(scope, context);
    registerUserRoutes(scope, context);
    registerViewRoutes(scope, context);
    registerTicketRoutes(scope, context);
    registerQueueAgentRoutes(scope, context);
    registerAgentRoutes(scope, context);
    registerActivityRoutes(scope, context);
    registerOAuthRoutes(scope, context);
  });

  return { app, routes };
}
