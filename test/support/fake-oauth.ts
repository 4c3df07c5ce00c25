import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, request as httpsRequest, type Server as TlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSelfSignedCertificate } from '../../src/dev/self-signed-cert.js';

/**
 * A local stand-in for the Microsoft identity platform (v2.0) and Google's OAuth2 endpoints,
 * following their published request and response shapes:
 *
 * - `GET …/oauth2/v2.0/authorize` (Microsoft) and `GET /o/oauth2/v2/auth` (Google): checks client,
 *   redirect URI, state and an S256 code challenge, "signs in" `account` at once and redirects
 *   with `code` and `state`, or with `error=consent_required` (AADSTS65001) when admin approval is on.
 * - `POST …/token`: `authorization_code` (verifies the PKCE verifier), `refresh_token` (rotates,
 *   so the old refresh token stops working) and `client_credentials`. Revoked or unknown grants
 *   get `invalid_grant`, and one request gets 429 with Retry-After when asked to.
 * - `POST /introspect`: RFC 7662 token introspection, for Dovecot's oauth2 passdb.
 * - `GET /{tenant}/v2.0/.well-known/openid-configuration` and `GET /common/discovery/instance`,
 *   which MSAL would fetch if it were not given the metadata (tests assert it never does).
 *
 * The same routes are served over plain HTTP (`url`, for Google and Dovecot) and over TLS
 * (`tlsUrl`, for MSAL, which accepts only an https authority) with a throwaway certificate in `caFile`.
 * Like Microsoft's, token responses of user flows contain `client_info` only when the request
 * sets `client_info=1`.
 */
export interface FakeRequest {
  method: string;
  path: string;
  /** `x-client-SKU` MSAL sends (query, body or header), null when absent. */
  clientSku: string | null;
  /** The grant type of a token request, else null. */
  grant: string | null;
  tls: boolean;
}

export interface FakeOAuthServer {
  /** Base URL, e.g. http://127.0.0.1:40123; use it as a Google integration's authority URL. */
  url: string;
  /** Base URL over TLS, e.g. https://127.0.0.1:40124; use it as a Microsoft integration's authority URL. */
  tlsUrl: string;
  /** PEM file of the certificate `tlsUrl` presents; set MAILQUEUE_OAUTH_CA_FILE to it. */
  caFile: string;
  /** Every request received, in order. */
  requests: FakeRequest[];
  /** Opens an authorization URL like a browser that trusts `caFile`, without following the redirect. */
  openInBrowser(url: string): Promise<Response>;
  clientId: string;
  clientSecret: string;
  /** The account every sign-in is for. */
  account: string;
  /** When true, the next authorization returns Microsoft's admin-approval error. */
  requireAdminApproval: boolean;
  /** When true, the next token request gets Microsoft's admin-approval error (invalid_grant, AADSTS65001). */
  consentRequiredNextTokenRequest: boolean;
  /** When set, the next token request gets 429 with this Retry-After (seconds). */
  rateLimitNextTokenRequest: number | null;
  /** Lifetime of issued access tokens, in seconds. */
  accessTokenLifetimeSeconds: number;
  /** Grant types of every token request, in order. */
  grants: string[];
  /** Refresh tokens the fake accepts right now. */
  liveRefreshTokens(): string[];
  /** Every access token issued, in order. */
  issuedAccessTokens: string[];
  /** Makes every refresh token of the account invalid (the user revoked the app). */
  revokeAll(): void;
  /** True when `token` is a live access token. */
  isActiveAccessToken(token: string): boolean;
  close(): Promise<void>;
}

interface PendingCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  scope: string;
}

function base64Url(value: Buffer | string): string {
  return Buffer.from(value).toString('base64url');
}

function token(prefix: string): string {
  return `${prefix}-${randomBytes(18).toString('base64url')}`;
}

async function readBody(request: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

export async function startFakeOAuthServer(options: { account?: string; redirectUri: string }): Promise<FakeOAuthServer> {
  const certificate = await createSelfSignedCertificate();
  const certDir = await mkdtemp(join(tmpdir(), 'mailqueue-fake-oauth-'));
  const caFile = join(certDir, 'ca.pem');
  await writeFile(caFile, certificate.cert);
  const codes = new Map<string, PendingCode>();
  const refreshTokens = new Map<string, { scope: string }>();
  const accessTokens = new Map<string, { expiresAt: number }>();

  const fake: FakeOAuthServer = {
    url: '',
    tlsUrl: '',
    caFile,
    requests: [],
    openInBrowser: (target) =>
      new Promise((resolve, reject) => {
        const send = target.startsWith('https:') ? httpsRequest : httpRequest;
        const request = send(target, { method: 'GET', ca: certificate.cert }, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const headers = new Headers();
            if (response.headers.location !== undefined) headers.set('location', response.headers.location);
            resolve(new Response(Buffer.concat(chunks), { status: response.statusCode ?? 500, headers }));
          });
          response.on('error', reject);
        });
        request.on('error', reject);
        request.end();
      }),
    clientId: 'fake-client-id',
    clientSecret: `fake-secret-${randomBytes(8).toString('hex')}`,
    account: options.account ?? 'support@example.com',
    requireAdminApproval: false,
    consentRequiredNextTokenRequest: false,
    rateLimitNextTokenRequest: null,
    accessTokenLifetimeSeconds: 3600,
    grants: [],
    liveRefreshTokens: () => [...refreshTokens.keys()],
    issuedAccessTokens: [],
    revokeAll: () => refreshTokens.clear(),
    isActiveAccessToken: (value) => (accessTokens.get(value)?.expiresAt ?? 0) > Date.now(),
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
      await rm(certDir, { recursive: true, force: true });
    },
  };

  const tokenError = (response: ServerResponse, status: number, error: string, description: string, codesList: number[] = []): void =>
    sendJson(response, status, { error, error_description: description, error_codes: codesList });

  const issueTokens = (scope: string, withRefresh: boolean, clientInfo = false): Record<string, unknown> => {
    const accessToken = token('at');
    accessTokens.set(accessToken, { expiresAt: Date.now() + fake.accessTokenLifetimeSeconds * 1000 });
    fake.issuedAccessTokens.push(accessToken);
    const result: Record<string, unknown> = { token_type: 'Bearer', access_token: accessToken, expires_in: fake.accessTokenLifetimeSeconds, scope };
    if (withRefresh) {
      const refreshToken = token('rt');
      refreshTokens.set(refreshToken, { scope });
      result.refresh_token = refreshToken;
      const claims = { aud: fake.clientId, iss: `${fake.tlsUrl}/fake-tenant-id/v2.0`, tid: 'fake-tenant-id', oid: 'fake-user-id', sub: 'fake-subject', email: fake.account, preferred_username: fake.account, ver: '2.0' };
      result.id_token = `${base64Url('{"alg":"none"}')}.${base64Url(JSON.stringify(claims))}.`;
      if (clientInfo) result.client_info = base64Url(JSON.stringify({ uid: 'fake-user-id', utid: 'fake-tenant-id' }));
    }
    return result;
  };

  const authorize = (url: URL, response: ServerResponse): void => {
    const redirectUri = url.searchParams.get('redirect_uri') ?? '';
    const state = url.searchParams.get('state');
    const challenge = url.searchParams.get('code_challenge');
    if (url.searchParams.get('client_id') !== fake.clientId || redirectUri !== options.redirectUri) {
      response.writeHead(400, { 'content-type': 'text/plain' });
      response.end('unknown client or redirect_uri');
      return;
    }
    if (state === null || challenge === null || url.searchParams.get('code_challenge_method') !== 'S256' || url.searchParams.get('response_type') !== 'code') {
      response.writeHead(400, { 'content-type': 'text/plain' });
      response.end('state, code_challenge with S256 and response_type=code are required');
      return;
    }
    const target = new URL(redirectUri);
    target.searchParams.set('state', state);
    if (fake.requireAdminApproval) {
      fake.requireAdminApproval = false;
      target.searchParams.set('error', 'consent_required');
      target.searchParams.set('error_description', 'AADSTS65001: The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource.');
    } else {
      const code = token('code');
      codes.set(code, { clientId: fake.clientId, redirectUri, challenge, scope: url.searchParams.get('scope') ?? '' });
      target.searchParams.set('code', code);
    }
    response.writeHead(302, { location: target.toString() });
    response.end();
  };

  const tokenEndpoint = async (body: URLSearchParams, response: ServerResponse): Promise<void> => {
    const grant = body.get('grant_type') ?? '';
    const clientInfo = body.get('client_info') === '1';
    fake.grants.push(grant);
    if (fake.rateLimitNextTokenRequest !== null) {
      const retryAfter = fake.rateLimitNextTokenRequest;
      fake.rateLimitNextTokenRequest = null;
      sendJson(response, 429, { error: 'temporarily_unavailable', error_description: 'Too many requests' }, { 'retry-after': String(retryAfter) });
      return;
    }
    if (fake.consentRequiredNextTokenRequest) {
      fake.consentRequiredNextTokenRequest = false;
      sendJson(response, 400, { error: 'invalid_grant', error_description: 'AADSTS65001: The user or administrator has not consented to use the application.', error_codes: [65001], suberror: 'consent_required' });
      return;
    }
    if (body.get('client_id') !== fake.clientId || body.get('client_secret') !== fake.clientSecret) {
      tokenError(response, 401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.', [7000215]);
      return;
    }

    if (grant === 'authorization_code') {
      const pending = codes.get(body.get('code') ?? '');
      codes.delete(body.get('code') ?? '');
      const verifier = body.get('code_verifier') ?? '';
      if (!pending || pending.redirectUri !== body.get('redirect_uri')) {
        tokenError(response, 400, 'invalid_grant', 'AADSTS70008: The provided authorization code or refresh token has expired or was already used.', [70008]);
        return;
      }
      if (base64Url(createHash('sha256').update(verifier).digest()) !== pending.challenge) {
        tokenError(response, 400, 'invalid_grant', 'AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.', [501481]);
        return;
      }
      sendJson(response, 200, issueTokens(pending.scope, true, clientInfo));
      return;
    }

    if (grant === 'refresh_token') {
      const presented = body.get('refresh_token') ?? '';
      const known = refreshTokens.get(presented);
      if (!known) {
        tokenError(response, 400, 'invalid_grant', 'AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed.', [50173]);
        return;
      }
      // Rotation: the presented refresh token is spent, the new one replaces it.
      refreshTokens.delete(presented);
      sendJson(response, 200, issueTokens(known.scope, true, clientInfo));
      return;
    }

    if (grant === 'client_credentials') {
      sendJson(response, 200, issueTokens(body.get('scope') ?? '', false));
      return;
    }
    tokenError(response, 400, 'unsupported_grant_type', `grant_type ${grant} is not supported`);
  };

  const introspect = (body: URLSearchParams, response: ServerResponse): void => {
    const presented = body.get('token') ?? '';
    if (fake.isActiveAccessToken(presented)) {
      sendJson(response, 200, { active: true, username: fake.account, email: fake.account, scope: 'mail' });
    } else {
      sendJson(response, 200, { active: false });
    }
  };

  const openIdConfiguration = (tenant: string, response: ServerResponse): void => {
    const base = `${fake.tlsUrl}/${tenant}`;
    sendJson(response, 200, { issuer: `${base}/v2.0`, authorization_endpoint: `${base}/oauth2/v2.0/authorize`, token_endpoint: `${base}/oauth2/v2.0/token`, end_session_endpoint: `${base}/oauth2/v2.0/logout`, jwks_uri: `${base}/discovery/v2.0/keys` });
  };

  const handler = (tls: boolean) => (request: IncomingMessage, response: ServerResponse): void => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const handle = async (): Promise<void> => {
      const body = request.method === 'POST' ? await readBody(request) : new URLSearchParams();
      const header = request.headers['x-client-sku'];
      fake.requests.push({
        method: request.method ?? '',
        path: url.pathname,
        clientSku: url.searchParams.get('x-client-SKU') ?? body.get('x-client-SKU') ?? (typeof header === 'string' ? header : null),
        grant: body.get('grant_type'),
        tls,
      });
      if (request.method === 'GET' && (url.pathname.endsWith('/oauth2/v2.0/authorize') || url.pathname === '/o/oauth2/v2/auth')) return authorize(url, response);
      if (request.method === 'POST' && url.pathname.endsWith('/token')) return tokenEndpoint(body, response);
      if (request.method === 'POST' && url.pathname === '/introspect') return introspect(body, response);
      const openId = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname);
      if (request.method === 'GET' && openId?.[1] !== undefined) return openIdConfiguration(openId[1], response);
      if (request.method === 'GET' && url.pathname === '/common/discovery/instance') {
        const host = new URL(fake.tlsUrl).host;
        return sendJson(response, 200, { tenant_discovery_endpoint: `${fake.tlsUrl}/common/v2.0/.well-known/openid-configuration`, 'api-version': '1.1', metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }] });
      }
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end(`no route for ${request.method} ${url.pathname}`);
    };
    handle().catch((error: unknown) => {
      response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(String(error));
    });
  };
  const server: Server = createServer(handler(false));
  const tlsServer: TlsServer = createTlsServer({ key: certificate.key, cert: certificate.cert }, handler(true));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', () => resolve()));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.tlsUrl = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
  return fake;
}
