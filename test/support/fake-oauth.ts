import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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
 */
export interface FakeOAuthServer {
  /** Base URL, e.g. http://127.0.0.1:40123; use it as the integration's authority URL. */
  url: string;
  clientId: string;
  clientSecret: string;
  /** The account every sign-in is for. */
  account: string;
  /** When true, the next authorization returns Microsoft's admin-approval error. */
  requireAdminApproval: boolean;
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
  const codes = new Map<string, PendingCode>();
  const refreshTokens = new Map<string, { scope: string }>();
  const accessTokens = new Map<string, { expiresAt: number }>();

  const fake: FakeOAuthServer = {
    url: '',
    clientId: 'fake-client-id',
    clientSecret: `fake-secret-${randomBytes(8).toString('hex')}`,
    account: options.account ?? 'support@example.com',
    requireAdminApproval: false,
    rateLimitNextTokenRequest: null,
    accessTokenLifetimeSeconds: 3600,
    grants: [],
    liveRefreshTokens: () => [...refreshTokens.keys()],
    issuedAccessTokens: [],
    revokeAll: () => refreshTokens.clear(),
    isActiveAccessToken: (value) => (accessTokens.get(value)?.expiresAt ?? 0) > Date.now(),
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const tokenError = (response: ServerResponse, status: number, error: string, description: string, codesList: number[] = []): void =>
    sendJson(response, status, { error, error_description: description, error_codes: codesList });

  const issueTokens = (scope: string, withRefresh: boolean): Record<string, unknown> => {
    const accessToken = token('at');
    accessTokens.set(accessToken, { expiresAt: Date.now() + fake.accessTokenLifetimeSeconds * 1000 });
    fake.issuedAccessTokens.push(accessToken);
    const result: Record<string, unknown> = { token_type: 'Bearer', access_token: accessToken, expires_in: fake.accessTokenLifetimeSeconds, scope };
    if (withRefresh) {
      const refreshToken = token('rt');
      refreshTokens.set(refreshToken, { scope });
      result.refresh_token = refreshToken;
      result.id_token = `${base64Url('{"alg":"none"}')}.${base64Url(JSON.stringify({ email: fake.account, preferred_username: fake.account }))}.`;
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

  const tokenEndpoint = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const body = await readBody(request);
    const grant = body.get('grant_type') ?? '';
    fake.grants.push(grant);
    if (fake.rateLimitNextTokenRequest !== null) {
      const retryAfter = fake.rateLimitNextTokenRequest;
      fake.rateLimitNextTokenRequest = null;
      sendJson(response, 429, { error: 'temporarily_unavailable', error_description: 'Too many requests' }, { 'retry-after': String(retryAfter) });
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
      sendJson(response, 200, issueTokens(pending.scope, true));
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
      sendJson(response, 200, issueTokens(known.scope, true));
      return;
    }

    if (grant === 'client_credentials') {
      sendJson(response, 200, issueTokens(body.get('scope') ?? '', false));
      return;
    }
    tokenError(response, 400, 'unsupported_grant_type', `grant_type ${grant} is not supported`);
  };

  const introspect = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const body = await readBody(request);
    const presented = body.get('token') ?? '';
    if (fake.isActiveAccessToken(presented)) {
      sendJson(response, 200, { active: true, username: fake.account, email: fake.account, scope: 'mail' });
    } else {
      sendJson(response, 200, { active: false });
    }
  };

  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const handle = async (): Promise<void> => {
      if (request.method === 'GET' && (url.pathname.endsWith('/oauth2/v2.0/authorize') || url.pathname === '/o/oauth2/v2/auth')) return authorize(url, response);
      if (request.method === 'POST' && url.pathname.endsWith('/token')) return tokenEndpoint(request, response);
      if (request.method === 'POST' && url.pathname === '/introspect') return introspect(request, response);
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end(`no route for ${request.method} ${url.pathname}`);
    };
    handle().catch((error: unknown) => {
      response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
