import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Knex } from 'knex';
import type { ApiUser, RouteAccessEntry } from '../../src/api/auth.js';
import { buildApiServer } from '../../src/api/server.js';
import { testLogger } from '../support/environment.js';

/** Tokens of the test users, by the role or name a test gives them. */
export interface TestTokens {
  admin: string;
  agent: string;
}

export interface TestApi {
  app: FastifyInstance;
  routes: RouteAccessEntry[];
  /** Issues a token for a user; tests use it as "Authorization: Bearer TOKEN". */
  issueToken(user: ApiUser): string;
  stop(): Promise<void>;
}

/**
 * A Temporal client that connects on first use to a port where nothing listens: for
 * tests whose requests never reach a handler that talks to Temporal.
 */
export function unreachableTemporal(): Client {
  return new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 1000 }) });
}

/** Builds the API on `db` and `temporal` with an in-memory token table. */
export async function startTestApi(options: { db: Knex; temporal: Client; secretKey: Buffer; taskQueue?: string }): Promise<TestApi> {
  const tokens = new Map<string, ApiUser>();
  const { app, routes } = await buildApiServer({
    db: options.db,
    temporal: options.temporal,
    secretKey: options.secretKey,
    logger: testLogger,
    taskQueue: options.taskQueue,
    findUserByToken: async (token) => tokens.get(token) ?? null,
  });
  await app.ready();
  return {
    app,
    routes,
    issueToken: (user) => {
      const token = `mq_${randomBytes(24).toString('base64url')}`;
      tokens.set(token, user);
      return token;
    },
    stop: () => app.close(),
  };
}

/** Sends one request with the bearer token (none when null) and a JSON body when given. */
export function call(app: FastifyInstance, token: string | null, method: string, url: string, body?: unknown): Promise<LightMyRequestResponse> {
  return app.inject({
    method: method as 'GET',
    url,
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
  });
}

/** The parsed JSON error body of a response. */
export function errorOf(response: LightMyRequestResponse): { code: string; message: string; field?: string; details?: Record<string, unknown> } {
  return (response.json() as { error: { code: string; message: string; field?: string; details?: Record<string, unknown> } }).error;
}
