import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import type { Knex } from 'knex';
import { findUserByApiToken } from '../db/api-tokens.js';
import { ApiError, ErrorCode } from './errors.js';

/**
 * Bearer-token authentication and the role check of every route. Each route declares
 * who may call it in `config.access`. A route without it cannot be registered, so the
 * table of routes and roles is complete.
 */

/** `public`: no token; `agent`: any active user; `admin`: admins only. */
export type RouteAccess = 'public' | 'agent' | 'admin';

/** The user a valid token belongs to. */
export interface ApiUser {
  id: number;
  alias: string;
  role: 'admin' | 'agent';
}

/** Finds the active user of a token, or null for an unknown, revoked or inactive one. */
export type TokenLookup = (token: string) => Promise<ApiUser | null>;

/** Returns the token lookup against the `api_tokens` table, where tokens are stored hashed; revoked tokens and inactive users fail. */
export function databaseTokenLookup(db: Knex): TokenLookup {
  return async (token) => {
    const found = await findUserByApiToken(db, token);
    if (found === null || !found.user.active) return null;
    return { id: found.user.id, alias: found.user.alias, role: found.user.role };
  };
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** Set by the auth hook on every route whose access is not `public`. */
    apiUser: ApiUser | null;
  }
}

/** One registered route with the access it declares; tests enumerate these. */
export interface RouteAccessEntry {
  method: string;
  url: string;
  access: RouteAccess;
}

// Tokens are URL-safe base64 or hex; anything else cannot be one and is not looked up.
const tokenPattern = /^[A-Za-z0-9._~+/=-]{16,512}$/;

function unauthorized(message: string): ApiError {
  return new ApiError(401, ErrorCode.Unauthorized, message);
}

/** Returns the bearer token of the request, or throws 401 naming what is wrong with the header. */
function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (header === undefined || header === '') {
    throw unauthorized('No API token: send the header "Authorization: Bearer TOKEN" with a token created by `mailqueue users tokens create ALIAS --name NAME` or POST /users/{alias}/tokens');
  }
  const match = /^Bearer +(\S+)\s*$/i.exec(header);
  if (match === null || !tokenPattern.test(match[1])) {
    throw unauthorized('The Authorization header is not "Bearer TOKEN" with a mailqueue API token');
  }
  return match[1];
}

/** Returns the route's declared access; the onRoute hook guarantees there is one. */
function routeAccess(request: FastifyRequest): RouteAccess {
  return request.routeOptions.config.access ?? 'admin';
}

/**
 * Registers the auth hook and the check that every route declares its access. Must run
 * before any route is added. Returns the live list of routes and their access.
 */
export function registerAuth(app: FastifyInstance, lookup: TokenLookup): RouteAccessEntry[] {
  const routes: RouteAccessEntry[] = [];
  app.decorateRequest('apiUser', null);

  app.addHook('onRoute', (route: RouteOptions) => {
    const access = (route.config as { access?: RouteAccess } | undefined)?.access;
    if (access === undefined) {
      throw new Error(`Route ${String(route.method)} ${route.url} has no config.access: declare who may call it ('public', 'agent' or 'admin')`);
    }
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') routes.push({ method, url: route.url, access });
    }
  });

  // onRequest runs before the body is parsed and validated, so an unauthenticated
  // caller learns nothing about the body a route expects.
  app.addHook('onRequest', async (request) => {
    // Unknown URLs have no route config, so they get the 404 for every caller.
    if (request.is404) return;
    const access = routeAccess(request);
    if (access === 'public') return;

    const user = await lookup(bearerToken(request));
    if (user === null) {
      throw unauthorized('The API token is unknown, revoked, or its user is inactive: create a new one with `mailqueue users tokens create ALIAS --name NAME`, or ask an admin');
    }
    request.apiUser = user;

    if (access === 'admin' && user.role !== 'admin') {
      throw new ApiError(403, ErrorCode.Forbidden, `User "${user.alias}" is an agent; this operation needs the admin role`);
    }
  });

  return routes;
}

/** Returns the authenticated user of a request on a non-public route. */
export function currentUser(request: FastifyRequest): ApiUser {
  if (request.apiUser === null) {
    throw new ApiError(401, ErrorCode.Unauthorized, 'No API token: send the header "Authorization: Bearer TOKEN"');
  }
  return request.apiUser;
}
