import type { FastifyInstance, FastifyRequest } from 'fastify';
import { signalConfigChanged } from '../../client/queue-control.js';
import { oauthProviders, type OAuthProviderName } from '../../domain/queue-config.js';
import { createIntegration, listIntegrations, type OAuthConnectionRecord } from '../../db/oauth.js';
import { findQueueById, requireQueueByNumber } from '../../db/queues.js';
import { completeAuthorization, startAuthorization } from '../../oauth/connect.js';
import { ApiError, ErrorCode } from '../errors.js';
import { absentBodyAsEmpty, nullableString, numberParams, timestamp } from '../schemas.js';
import type { RouteContext } from '../server.js';

/**
 * OAuth2 mailboxes: integrations (the application registered once at Microsoft or Google,
 * its client secret write-only), connecting a queue's mailbox, and the callback the
 * provider redirects the browser to. The callback is public: the one-time `state`, valid
 * 15 minutes and bound to a PKCE verifier, is what authenticates it.
 */

const tags = ['oauth'];

const urlString = { type: 'string', minLength: 8, maxLength: 2000 } as const;

const integrationResponse = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    provider: { type: 'string', enum: [...oauthProviders] },
    tenant: nullableString,
    clientId: { type: 'string' },
    redirectUri: { type: 'string' },
    authorityUrl: nullableString,
    tokenUrl: nullableString,
    apiUrl: nullableString,
    createdAt: timestamp,
  },
} as const;

const integrationBody = {
  type: 'object',
  required: ['name', 'provider', 'clientId', 'clientSecret', 'redirectUri'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,100}$', description: 'The name queue documents give in "integration"' },
    provider: { type: 'string', enum: [...oauthProviders] },
    tenant: { type: 'string', minLength: 1, maxLength: 200, description: 'Microsoft tenant id or domain; required for microsoft' },
    clientId: { type: 'string', minLength: 1, maxLength: 200 },
    clientSecret: { type: 'string', minLength: 1, maxLength: 4096, writeOnly: true, description: 'Stored encrypted; never returned or logged' },
    redirectUri: { ...urlString, description: 'The redirect URI registered for the app, normally https://HOST/oauth/callback of this API' },
    authorityUrl: { ...urlString, description: 'Replaces the sign-in authority (sovereign clouds, tests)' },
    tokenUrl: { ...urlString, description: 'Replaces the token endpoint' },
    apiUrl: { ...urlString, description: 'Replaces the Gmail or Graph API base URL' },
  },
} as const;

interface IntegrationBody {
  name: string;
  provider: OAuthProviderName;
  tenant?: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  authorityUrl?: string;
  tokenUrl?: string;
  apiUrl?: string;
}

const connectedResponse = {
  type: 'object',
  properties: {
    queue: { type: 'integer' },
    purpose: { type: 'string', enum: ['incoming', 'outgoing'] },
    accountAddress: nullableString,
    state: { type: 'string', enum: ['pending', 'connected', 'degraded'] },
    workflowNotified: { type: 'boolean', description: "False when the queue's workflow could not be told; it picks the connection up when it starts or on PUT /queues/{number}" },
  },
} as const;

const consentResponse = {
  description: 'Microsoft responded that a tenant admin must approve the application: `details.permissions` lists what to grant and `details.adminConsentUrl` is where',
  $ref: 'ErrorBody#',
} as const;

const callbackQuery = {
  type: 'object',
  required: ['state'],
  // Providers add parameters of their own (session_state, scope, authuser, prompt).
  additionalProperties: true,
  properties: {
    state: { type: 'string', minLength: 1, maxLength: 512 },
    code: { type: 'string', minLength: 1, maxLength: 8192 },
    error: { type: 'string', maxLength: 200 },
    error_description: { type: 'string', maxLength: 4000 },
  },
} as const;

interface CallbackQuery {
  state: string;
  code?: string;
  error?: string;
  error_description?: string;
}

/** Builds the redirect URL `completeAuthorization` reads; only the parameters it uses are carried over. */
function callbackUrl(query: CallbackQuery): string {
  const url = new URL('http://127.0.0.1/oauth/callback');
  for (const name of ['state', 'code', 'error', 'error_description'] as const) {
    const value = query[name];
    if (value !== undefined) url.searchParams.set(name, value);
  }
  return url.toString();
}

export function registerOAuthRoutes(app: FastifyInstance, context: RouteContext): void {
  const { db, secretKey, temporal } = context;
  const connectOptions = { db, secretKey, logger: context.logger };

  /**
   * Completes a sign-in and signals the queue's workflow. The tokens have committed by then,
   * and the state is spent, so a failed signal is logged and reported, not returned as an error.
   */
  async function complete(request: FastifyRequest, redirectUrl: string) {
    const connection: OAuthConnectionRecord = await completeAuthorization(connectOptions, redirectUrl);
    const queue = await findQueueById(db, connection.queueId);
    let workflowNotified = false;
    try {
      workflowNotified = await signalConfigChanged(temporal, queue.number);
    } catch (error) {
      request.log.warn({ err: error, queueNumber: queue.number, connectionId: connection.id, requestId: request.id }, 'oauth callback could not signal the queue workflow');
    }
    return { queue: queue.number, purpose: connection.purpose, accountAddress: connection.accountAddress, state: connection.state, workflowNotified };
  }

  app.get(
    '/oauth/integrations',
    { config: { access: 'admin' }, schema: { tags, summary: 'List OAuth2 integrations (never their client secrets)', response: { 200: { type: 'array', items: integrationResponse } } } },
    async () => listIntegrations(db),
  );

  app.post<{ Body: IntegrationBody }>(
    '/oauth/integrations',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Add an OAuth2 integration',
        description: 'The application registered at Microsoft (Entra ID) or Google, configured once; queue documents name it in "integration". The client secret is write-only.',
        body: integrationBody,
        response: { 201: integrationResponse, 409: { description: 'An integration with this name exists', $ref: 'ErrorBody#' } },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if ((await listIntegrations(db)).some((integration) => integration.name === body.name)) {
        throw new ApiError(409, ErrorCode.Conflict, `An integration named "${body.name}" exists already: choose another name, or use the existing one`, { field: 'body.name' });
      }
      const created = await createIntegration(db, secretKey, {
        name: body.name,
        provider: body.provider,
        tenant: body.tenant ?? null,
        clientId: body.clientId,
        clientSecret: body.clientSecret,
        redirectUri: body.redirectUri,
        authorityUrl: body.authorityUrl ?? null,
        tokenUrl: body.tokenUrl ?? null,
        apiUrl: body.apiUrl ?? null,
      });
      request.log.info({ integrationId: created.id, provider: created.provider, requestId: request.id }, 'oauth integration added');
      return reply.status(201).send(created);
    },
  );

  app.post<{ Params: { number: number }; Body: { side?: 'incoming' | 'outgoing' } }>(
    '/queues/:number/oauth/connect',
    {
      config: { access: 'admin' },
      preValidation: absentBodyAsEmpty,
      schema: {
        tags,
        summary: "Start connecting a queue's mailbox: returns the provider's sign-in URL",
        description:
          "Open `authorizationUrl` in a browser and sign in as the mailbox's account within 15 minutes. The provider then sends the browser to the integration's redirect URI: GET /oauth/callback of this API completes by itself; otherwise POST the address to /oauth/callback.",
        params: numberParams,
        body: { type: 'object', additionalProperties: false, properties: { side: { type: 'string', enum: ['incoming', 'outgoing'], default: 'incoming', description: 'outgoing: the sending side, when it does not share the incoming connection' } } },
        response: {
          200: {
            type: 'object',
            properties: {
              queue: { type: 'integer' },
              side: { type: 'string' },
              authorizationUrl: { type: 'string' },
              state: { type: 'string' },
              redirectUri: { type: 'string' },
              expiresAt: timestamp,
            },
          },
        },
      },
    },
    async (request) => {
      const queue = await requireQueueByNumber(db, request.params.number);
      const side = request.body.side ?? 'incoming';
      const started = await startAuthorization(connectOptions, queue, side);
      return { queue: queue.number, side, authorizationUrl: started.url, state: started.state, redirectUri: started.redirectUri, expiresAt: started.expiresAt };
    },
  );

  app.get<{ Querystring: CallbackQuery }>(
    '/oauth/callback',
    {
      config: { access: 'public' },
      schema: {
        tags,
        summary: 'Where the provider sends the browser after sign-in; stores the tokens encrypted',
        description: 'Needs no token: the one-time state of POST /queues/{number}/oauth/connect authenticates the call. Returns JSON naming the connected account.',
        querystring: callbackQuery,
        response: { 200: connectedResponse, 400: { description: 'Unknown, expired or used state, or the provider reported an error', $ref: 'ErrorBody#' }, 403: consentResponse },
      },
    },
    async (request) => complete(request, callbackUrl(request.query)),
  );

  app.post<{ Body: { url: string } }>(
    '/oauth/callback',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Complete a sign-in with the address the browser was sent to',
        description: 'For a redirect URI that does not reach this API, such as a loopback address on the admin\'s machine: paste the whole address.',
        body: { type: 'object', required: ['url'], additionalProperties: false, properties: { url: { type: 'string', minLength: 1, maxLength: 16000 } } },
        response: { 200: connectedResponse, 403: consentResponse },
      },
    },
    async (request) => complete(request, request.body.url),
  );
}
