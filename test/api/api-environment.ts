import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { RouteAccessEntry } from '../../src/api/auth.js';
import { buildApiServer } from '../../src/api/server.js';
import { createApiToken } from '../../src/db/api-tokens.js';
import { createUser, type UserRecord, type UserRole } from '../../src/db/users.js';
import { testLogger } from '../support/environment.js';

export interface TestApi {
  app: FastifyInstance;
  routes: RouteAccessEntry[];
  stop(): Promise<void>;
}

/**
 * A Temporal client that connects on first use to a port where nothing listens: for
 * tests whose requests never reach a handler that talks to Temporal, or that expect it
 * to be unreachable. An empty interceptor list replaces the client's default retries,
 * so a call fails at once instead of after about 20 seconds of retrying.
 */
export function unreachableTemporal(): Client {
  return new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 1000, interceptors: [] }) });
}

/** Builds the API on `db` and `temporal`, with tokens looked up in the database as in production. */
export async function startTestApi(options: { db: Knex; temporal: Client; secretKey: Buffer; taskQueue?: string; logger?: Logger }): Promise<TestApi> {
  const { app, routes } = await buildApiServer({ db: options.db, temporal: options.temporal, secretKey: options.secretKey, logger: options.logger ?? testLogger, taskQueue: options.taskQueue });
  await app.ready();
  return { app, routes, stop: () => app.close() };
}

/** Creates a user with `role` and an API token for it; the token goes in "Authorization: Bearer TOKEN". */
export async function createUserWithToken(db: Knex, alias: string, role: UserRole): Promise<{ user: UserRecord; token: string }> {
  const user = await createUser(db, { alias, email: `${alias}@helpdesk.example.com`, name: alias, role });
  const { token } = await createApiToken(db, user.id, 'test');
  return { user, token };
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

/** Returns the parsed JSON error body of a response. */
export function errorOf(response: LightMyRequestResponse): { code: string; message: string; field?: string; details?: Record<string, unknown> } {
  return (response.json() as { error: { code: string; message: string; field?: string; details?: Record<string, unknown> } }).error;
}
