import { setTimeout as sleep } from 'node:timers/promises';
import type { OAuthProviderName } from '../domain/queue-config.js';
import { FailureType, MailqueueError } from '../errors.js';
import { microsoftAuthorizationUrl, microsoftTokenRequest } from './msal.js';

/**
 * OAuth2 endpoints and token requests of the Microsoft identity platform (v2.0) and Google.
 *
 * Microsoft requests go through `@azure/msal-node` (see `msal.ts`). Each call uses a fresh MSAL
 * client with its own in-memory cache and takes the refresh token MSAL cached from the serialized
 * cache. So a rotated refresh token is still stored encrypted in the same transaction as the
 * access token. Google requests use the plain RFC 6749 client below.
 */

/** An integration's non-secret settings plus the decrypted client secret. Activity-side only. */
export interface OAuthClientSettings {
  provider: OAuthProviderName;
  /** Microsoft tenant (id, domain, `organizations` or `common`); ignored for Google. */
  tenant: string | null;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** Replaces https://login.microsoftonline.com or https://accounts.google.com (tests point it at a fake). */
  authorityUrl: string | null;
  /** Replaces the token endpoint (tests point it at a fake). */
  tokenUrl: string | null;
}

/** Tokens returned by a token endpoint. Contains secrets, so it is never logged. */
export interface TokenSet {
  accessToken: string;
  /** Absolute expiry, milliseconds since the epoch. */
  expiresAt: number;
  /** Null when the provider did not rotate it (Google keeps the old one valid). */
  refreshToken: string | null;
  scopes: string[];
  /** The signed-in account from the ID token, when one came back. */
  accountAddress: string | null;
}

const microsoftAuthority = 'https://login.microsoftonline.com';
const googleAuthority = 'https://accounts.google.com';
const googleTokenUrl = 'https://oauth2.googleapis.com/token';

/** Longest Retry-After (seconds) waited out inside one request; longer ones become a retryable failure. */
const maxInlineRetryAfterSeconds = 10;
const requestTimeoutMs = 30_000;

/** Scopes for each way a mailbox uses its token. */
export const providerScopes = {
  microsoft: {
    imap: ['https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send', 'offline_access', 'openid', 'email'],
    graph: ['https://graph.microsoft.com/Mail.ReadWrite', 'https://graph.microsoft.com/Mail.Send', 'offline_access', 'openid', 'email'],
    tenant: ['https://graph.microsoft.com/.default'],
  },
  google: {
    mail: ['https://mail.google.com/', 'openid', 'email'],
  },
} as const;

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function tenantOf(settings: OAuthClientSettings): string {
  return encodeURIComponent(settings.tenant ?? 'organizations');
}

/** Returns the token endpoint URL of an integration. */
export function tokenEndpoint(settings: OAuthClientSettings): string {
  if (settings.tokenUrl !== null) return settings.tokenUrl;
  if (settings.provider === 'google') return googleTokenUrl;
  return `${trimSlash(settings.authorityUrl ?? microsoftAuthority)}/${tenantOf(settings)}/oauth2/v2.0/token`;
}

/**
 * Builds the authorization URL the operator opens in a browser: code flow with state and PKCE
 * (S256). Microsoft's comes from MSAL's `getAuthCodeUrl`, Google's from `authorizationUrl`.
 */
export async function buildAuthorizationUrl(settings: OAuthClientSettings, request: { state: string; codeChallenge: string; scopes: readonly string[]; loginHint: string | null }): Promise<string> {
  if (settings.provider === 'microsoft') return microsoftAuthorizationUrl(settings, request);
  return authorizationUrl(settings, request);
}

/** Builds the authorization URL by hand (RFC 6749 with PKCE S256); used for Google. */
export function authorizationUrl(settings: OAuthClientSettings, request: { state: string; codeChallenge: string; scopes: readonly string[]; loginHint: string | null }): string {
  const base = settings.provider === 'google'
    ? `${trimSlash(settings.authorityUrl ?? googleAuthority)}/o/oauth2/v2/auth`
    : `${trimSlash(settings.authorityUrl ?? microsoftAuthority)}/${tenantOf(settings)}/oauth2/v2.0/authorize`;
  const url = new URL(base);
  url.searchParams.set('client_id', settings.clientId);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('redirect_uri', settings.redirectUri);
  url.searchParams.set('scope', request.scopes.join(' '));
  url.searchParams.set('state', request.state);
  url.searchParams.set('code_challenge', request.codeChallenge);
  url.searchParams.set('code_challenge_method', 'S256');
  if (request.loginHint !== null) url.searchParams.set('login_hint', request.loginHint);
  if (settings.provider === 'google') {
    // Without both, Google issues no refresh token on a second sign-in.
    url.searchParams.set('access_type', 'offline');
    url.searchParams.set('prompt', 'consent');
  } else {
    url.searchParams.set('response_mode', 'query');
  }
  return url.toString();
}

/** Builds the URL a Microsoft tenant admin opens to grant the application's permissions for the whole tenant. */
export function adminConsentUrl(settings: OAuthClientSettings, scopes: readonly string[]): string {
  const url = new URL(`${trimSlash(settings.authorityUrl ?? microsoftAuthority)}/${tenantOf(settings)}/v2.0/adminconsent`);
  url.searchParams.set('client_id', settings.clientId);
  url.searchParams.set('scope', scopes.filter((scope) => scope.startsWith('https://')).join(' '));
  url.searchParams.set('redirect_uri', settings.redirectUri);
  return url.toString();
}

/** An error response of a token endpoint (RFC 6749 section 5.2), without anything secret. */
export interface TokenErrorAnswer {
  status: number;
  error: string;
  description: string;
  errorCodes: number[];
}

/** Returns true when the error response requires admin consent first (AADSTS65001, AADSTS90094, consent_required). */
export function needsAdminApproval(answer: Pick<TokenErrorAnswer, 'error' | 'description' | 'errorCodes'>): boolean {
  return answer.error === 'consent_required' || answer.errorCodes.includes(65001) || answer.errorCodes.includes(90094) || /AADSTS(65001|90094)/.test(answer.description);
}

/** Builds the ConsentRequired failure naming the permissions and the admin-consent URL. */
export function consentRequiredError(settings: OAuthClientSettings, scopes: readonly string[], description: string): MailqueueError {
  const permissions = scopes.filter((scope) => scope.startsWith('https://'));
  return new MailqueueError(
    FailureType.ConsentRequired,
    `The tenant needs admin approval for this application (${description.split(/\r?\n/)[0]}). A tenant admin must grant these permissions: ${permissions.join(', ')}. Admin-consent URL: ${adminConsentUrl(settings, scopes)} — then run \`mailqueue oauth connect\` again.`,
    { permissions, adminConsentUrl: adminConsentUrl(settings, scopes) },
  );
}

function readErrorCodes(value: unknown): number[] {
  return Array.isArray(value) ? value.filter((code): code is number => typeof code === 'number') : [];
}

/** Reads the `email` or `preferred_username` claim of an ID token without checking its signature (it came straight from the token endpoint over TLS). */
function accountFromIdToken(idToken: unknown): string | null {
  if (typeof idToken !== 'string') return null;
  const payload = idToken.split('.')[1];
  if (payload === undefined) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const address = claims.email ?? claims.preferred_username;
    return typeof address === 'string' ? address : null;
  } catch {
    return null;
  }
}

/** Thrown by `requestToken` when the endpoint returned an OAuth2 error document. */
export class TokenEndpointError extends MailqueueError {
  readonly answer: TokenErrorAnswer;

  constructor(type: (typeof FailureType)[keyof typeof FailureType], message: string, answer: TokenErrorAnswer) {
    super(type, message, { status: answer.status, error: answer.error, errorCodes: answer.errorCodes });
    this.answer = answer;
  }
}

/**
 * Redeems one grant and returns the token set: Microsoft through MSAL (`microsoftTokenRequest`),
 * Google by posting it to the token endpoint. A 429 with a short Retry-After
 * is waited out once; a longer one, 5xx and network errors are retryable ConnectionFailed.
 * `invalid_grant` becomes ReconnectRequired, an admin-approval error ConsentRequired, anything
 * else AuthenticationFailed. No message contains a token or the client secret.
 */
export async function requestToken(settings: OAuthClientSettings, grant: Record<string, string>, now: () => number = Date.now): Promise<TokenSet> {
  if (settings.provider === 'microsoft') return microsoftTokenRequest(settings, grant, now);
  const endpoint = tokenEndpoint(settings);
  const body = new URLSearchParams({ client_id: settings.clientId, client_secret: settings.clientSecret, ...grant });

  for (let attempt = 1; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
    } catch (error) {
      throw new MailqueueError(FailureType.ConnectionFailed, `The ${settings.provider} token endpoint ${endpoint} could not be reached (${error instanceof Error ? error.message : String(error)}); check the network, it is tried again later`, { endpoint }, { cause: error });
    }

    if (response.status === 429 || response.status >= 500) {
      const retryAfter = Number.parseInt(response.headers.get('retry-after') ?? '', 10);
      if (response.status === 429 && attempt === 1 && Number.isFinite(retryAfter) && retryAfter <= maxInlineRetryAfterSeconds) {
        await sleep(Math.max(0, retryAfter) * 1000);
        continue;
      }
      throw new MailqueueError(
        FailureType.ConnectionFailed,
        `The ${settings.provider} token endpoint ${endpoint} answered HTTP ${response.status}${Number.isFinite(retryAfter) ? ` (Retry-After ${retryAfter} s)` : ''}; it is tried again later`,
        { endpoint, status: response.status, retryAfterSeconds: Number.isFinite(retryAfter) ? retryAfter : null },
      );
    }

    const document = (await response.json().catch(() => null)) as Record<string, unknown> | null;
    if (document === null) {
      throw new MailqueueError(FailureType.ProtocolError, `The ${settings.provider} token endpoint ${endpoint} returned HTTP ${response.status} without JSON; check the integration's token URL`, { endpoint, status: response.status });
    }

    if (!response.ok || typeof document.error === 'string') {
      const answer: TokenErrorAnswer = {
        status: response.status,
        error: typeof document.error === 'string' ? document.error : `http_${response.status}`,
        description: typeof document.error_description === 'string' ? document.error_description : '',
        errorCodes: readErrorCodes(document.error_codes),
      };
      const summary = `${answer.error}${answer.description === '' ? '' : `: ${answer.description.split(/\r?\n/)[0]}`}`;
      if (needsAdminApproval(answer)) {
        throw new TokenEndpointError(FailureType.ConsentRequired, `The ${settings.provider} token endpoint needs admin approval (${summary})`, answer);
      }
      if (answer.error === 'invalid_grant') {
        throw new TokenEndpointError(FailureType.ReconnectRequired, `The ${settings.provider} token endpoint rejected the stored grant (${summary}); reconnect the mailbox with \`mailqueue oauth connect\``, answer);
      }
      throw new TokenEndpointError(FailureType.AuthenticationFailed, `The ${settings.provider} token endpoint rejected the request (${summary}); check the integration's client id and secret`, answer);
    }

    if (typeof document.access_token !== 'string' || document.access_token === '') {
      throw new MailqueueError(FailureType.ProtocolError, `The ${settings.provider} token endpoint ${endpoint} returned no access_token`, { endpoint });
    }
    const expiresIn = typeof document.expires_in === 'number' ? document.expires_in : Number.parseInt(String(document.expires_in ?? '3600'), 10);
    return {
      accessToken: document.access_token,
      expiresAt: now() + (Number.isFinite(expiresIn) ? expiresIn : 3600) * 1000,
      refreshToken: typeof document.refresh_token === 'string' && document.refresh_token !== '' ? document.refresh_token : null,
      scopes: typeof document.scope === 'string' ? document.scope.split(' ').filter((scope) => scope !== '') : [],
      accountAddress: accountFromIdToken(document.id_token),
    };
  }
}
