import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuthError, ConfidentialClientApplication, LogLevel, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from '@azure/msal-node';
import { FailureType, MailqueueError } from '../errors.js';
import { needsAdminApproval, TokenEndpointError, type OAuthClientSettings, type TokenErrorAnswer, type TokenSet } from './provider.js';

/**
 * Microsoft token requests through `@azure/msal-node`.
 *
 * Every call builds its own ConfidentialClientApplication with an empty in-memory token cache, so
 * nothing is shared between connections. After a grant, the refresh token MSAL put into that cache
 * (rotated or new) is read from the serialized cache and handed to the caller, who stores it
 * encrypted in the same transaction as the access token. The cache is never logged or kept.
 *
 * MSAL is given the authority metadata and the cloud discovery metadata of the configured
 * authority, so it contacts nothing but the token endpoint: no instance discovery, no OpenID
 * configuration download.
 */

/** Environment variable naming a PEM file of an extra certificate authority trusted for Microsoft sign-in (test and private deployments). */
export const oauthCaFileVariable = 'MAILQUEUE_OAUTH_CA_FILE';

const microsoftAuthority = 'https://login.microsoftonline.com';

/** Longest Retry-After (seconds) waited out inside one request. Longer ones become a retryable failure. */
const maxInlineRetryAfterSeconds = 10;
const requestTimeoutMs = 30_000;

/** Observations of the network client during one MSAL call, used to explain MSAL's errors. */
interface CallContext {
  endpoint: string;
  status: number | null;
  retryAfterSeconds: number | null;
  networkError: Error | null;
  invalidJson: boolean;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Returns the authority URL of an integration: `<authority base>/<tenant>`. */
function authorityOf(settings: OAuthClientSettings): { base: string; authority: string; host: string } {
  const base = trimSlash(settings.authorityUrl ?? microsoftAuthority);
  const url = URL.canParse(base) ? new URL(base) : null;
  if (url === null || url.protocol !== 'https:') {
    throw new MailqueueError(FailureType.InvalidConfiguration, `The Microsoft authority URL ${base} is not an https URL, which MSAL requires. Set the integration's authority URL to https://login.microsoftonline.com or leave it empty`, { authorityUrl: base });
  }
  return { base, authority: `${base}/${encodeURIComponent(settings.tenant ?? 'organizations')}`, host: url.host };
}

/** Loads the extra certificate authority named by `MAILQUEUE_OAUTH_CA_FILE`, or null for the system trust store only. */
async function extraCertificateAuthority(): Promise<string | null> {
  const path = process.env[oauthCaFileVariable];
  if (path === undefined || path === '') return null;
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `${oauthCaFileVariable} names ${path}, which cannot be read (${error instanceof Error ? error.message : String(error)}); point it at a PEM certificate file or unset it`, { path });
  }
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/**
 * Creates MSAL's network module on Node's https client. It trusts the system store plus `ca` when
 * given, waits out one 429 with a short Retry-After, and records status and errors in `context`.
 */
function createNetworkClient(ca: string | null, context: CallContext): INetworkModule {
  const send = (method: 'GET' | 'POST', url: string, options: NetworkRequestOptions | undefined): Promise<{ status: number; headers: Record<string, string>; text: string }> =>
    new Promise((resolve, reject) => {
      const request = httpsRequest(url, { method, headers: options?.headers ?? {}, timeout: requestTimeoutMs, ...(ca === null ? {} : { ca: [...rootCertificates, ca] }) }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: flattenHeaders(response.headers), text: Buffer.concat(chunks).toString('utf8') }));
      });
      request.on('timeout', () => request.destroy(new Error(`timed out after ${requestTimeoutMs / 1000} s`)));
      request.on('error', reject);
      if (method === 'POST' && options?.body !== undefined) request.write(options.body);
      request.end();
    });

  const exchange = async <T>(method: 'GET' | 'POST', url: string, options: NetworkRequestOptions | undefined): Promise<NetworkResponse<T>> => {
    context.endpoint = url.split('?')[0] ?? url;
    for (let attempt = 1; ; attempt++) {
      let answer: { status: number; headers: Record<string, string>; text: string };
      try {
        answer = await send(method, url, options);
      } catch (error) {
        context.networkError = error instanceof Error ? error : new Error(String(error));
        throw error;
      }
      const retryAfter = Number.parseInt(answer.headers['retry-after'] ?? '', 10);
      if (answer.status === 429 && attempt === 1 && Number.isFinite(retryAfter) && retryAfter <= maxInlineRetryAfterSeconds) {
        await sleep(Math.max(0, retryAfter) * 1000);
        continue;
      }
      context.status = answer.status;
      context.retryAfterSeconds = Number.isFinite(retryAfter) ? retryAfter : null;
      let body: unknown = {};
      try {
        body = JSON.parse(answer.text);
      } catch {
        context.invalidJson = true;
      }
      return { status: answer.status, headers: answer.headers, body: body as T };
    }
  };

  return {
    sendGetRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => exchange<T>('GET', url, options),
    sendPostRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => exchange<T>('POST', url, options),
  };
}

/** Creates a client for one call, with its own empty cache and the authority's metadata given up front. */
async function createClient(settings: OAuthClientSettings, context: CallContext): Promise<ConfidentialClientApplication> {
  const { authority, host } = authorityOf(settings);
  const authorityMetadata = {
    token_endpoint: settings.tokenUrl ?? `${authority}/oauth2/v2.0/token`,
    authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
    end_session_endpoint: `${authority}/oauth2/v2.0/logout`,
    issuer: `${authority}/v2.0`,
    jwks_uri: `${authority}/discovery/v2.0/keys`,
  };
  const cloudDiscoveryMetadata = {
    tenant_discovery_endpoint: `${authority}/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  };
  return new ConfidentialClientApplication({
    auth: {
      clientId: settings.clientId,
      clientSecret: settings.clientSecret,
      authority,
      knownAuthorities: [host],
      authorityMetadata: JSON.stringify(authorityMetadata),
      cloudDiscoveryMetadata: JSON.stringify(cloudDiscoveryMetadata),
    },
    system: {
      networkClient: createNetworkClient(await extraCertificateAuthority(), context),
      // MSAL's own log lines may contain account names. Its failures reach the caller as MailqueueErrors instead.
      loggerOptions: { piiLoggingEnabled: false, logLevel: LogLevel.Error, loggerCallback: () => undefined },
    },
  });
}

function newContext(settings: OAuthClientSettings): CallContext {
  const authority = `${trimSlash(settings.authorityUrl ?? microsoftAuthority)}/${encodeURIComponent(settings.tenant ?? 'organizations')}`;
  return { endpoint: settings.tokenUrl ?? `${authority}/oauth2/v2.0/token`, status: null, retryAfterSeconds: null, networkError: null, invalidJson: false };
}

/** Converts an MSAL failure into the MailqueueError the plain token client raises for the same response. Includes no token. */
function translateFailure(error: unknown, context: CallContext): MailqueueError {
  if (error instanceof MailqueueError) return error;
  const endpoint = context.endpoint;
  if (context.networkError !== null) {
    return new MailqueueError(FailureType.ConnectionFailed, `The microsoft token endpoint ${endpoint} could not be reached (${context.networkError.message}); check the network, it is tried again later`, { endpoint }, { cause: error });
  }
  if (context.status !== null && (context.status === 429 || context.status >= 500)) {
    return new MailqueueError(
      FailureType.ConnectionFailed,
      `The microsoft token endpoint ${endpoint} answered HTTP ${context.status}${context.retryAfterSeconds === null ? '' : ` (Retry-After ${context.retryAfterSeconds} s)`}; it is tried again later`,
      { endpoint, status: context.status, retryAfterSeconds: context.retryAfterSeconds },
    );
  }
  if (context.invalidJson) {
    return new MailqueueError(FailureType.ProtocolError, `The microsoft token endpoint ${endpoint} returned HTTP ${context.status ?? 0} without JSON; check the integration's token URL`, { endpoint, status: context.status });
  }
  if (!(error instanceof AuthError)) {
    return new MailqueueError(FailureType.ProtocolError, `Microsoft sign-in failed unexpectedly (${error instanceof Error ? error.message : String(error)})`, { endpoint });
  }

  // MSAL formats the server error as "Error(s): … - Description: AADSTS…: text - Correlation ID: …", so only the text is kept.
  const description = /Description: ([\s\S]*?)(?: - Correlation ID:|$)/.exec(error.errorMessage)?.[1] ?? error.errorMessage;
  const errorCodes = [...description.matchAll(/AADSTS(\d+)/g)].map((match) => Number(match[1]));
  const answer: TokenErrorAnswer = { status: context.status ?? 0, error: error.errorCode, description, errorCodes };
  const summary = `${answer.error}${description === '' ? '' : `: ${description.split(/\r?\n/)[0]}`}`;
  if (context.status === null) {
    // MSAL raised the error before sending a request, so the settings are wrong, not the grant.
    return new MailqueueError(FailureType.InvalidConfiguration, `Microsoft sign-in could not start (${summary}); check the integration's tenant, authority URL and client id`, { error: answer.error });
  }
  if (needsAdminApproval(answer)) {
    return new TokenEndpointError(FailureType.ConsentRequired, `The microsoft token endpoint needs admin approval (${summary})`, answer);
  }
  if (answer.error === 'invalid_grant') {
    return new TokenEndpointError(FailureType.ReconnectRequired, `The microsoft token endpoint rejected the stored grant (${summary}); reconnect the mailbox with \`mailqueue oauth connect\``, answer);
  }
  return new TokenEndpointError(FailureType.AuthenticationFailed, `The microsoft token endpoint rejected the request (${summary}); check the integration's client id and secret`, answer);
}

/** Reads the refresh token MSAL stored in a client's cache during the call, or null when none came back. */
function refreshTokenFromCache(client: ConfidentialClientApplication): string | null {
  const cache = JSON.parse(client.getTokenCache().serialize()) as { RefreshToken?: Record<string, { secret?: string }> };
  const secrets = Object.values(cache.RefreshToken ?? {}).map((entry) => entry.secret).filter((secret): secret is string => typeof secret === 'string' && secret !== '');
  return secrets.at(-1) ?? null;
}

/**
 * Builds the Microsoft authorization URL with MSAL (`getAuthCodeUrl`): code flow, PKCE S256,
 * state, login hint and query response mode. Contacts no server.
 */
export async function microsoftAuthorizationUrl(settings: OAuthClientSettings, request: { state: string; codeChallenge: string; scopes: readonly string[]; loginHint: string | null }): Promise<string> {
  const context = newContext(settings);
  try {
    const client = await createClient(settings, context);
    return await client.getAuthCodeUrl({
      scopes: [...request.scopes],
      redirectUri: settings.redirectUri,
      state: request.state,
      codeChallenge: request.codeChallenge,
      codeChallengeMethod: 'S256',
      responseMode: 'query',
      ...(request.loginHint === null ? {} : { loginHint: request.loginHint }),
    });
  } catch (error) {
    throw translateFailure(error, context);
  }
}

/**
 * Redeems one grant with MSAL: `authorization_code` (with `code`, `redirect_uri`, `code_verifier`),
 * `refresh_token` (with `refresh_token`) or `client_credentials`, each with `scope` (space separated).
 * Returns the token set with the refresh token MSAL cached, so a rotated one is never lost.
 * Errors map like the plain token client: `invalid_grant` ReconnectRequired, admin approval
 * ConsentRequired, 429/5xx/network ConnectionFailed (a short Retry-After is waited out once).
 */
export async function microsoftTokenRequest(settings: OAuthClientSettings, grant: Record<string, string>, now: () => number = Date.now): Promise<TokenSet> {
  const context = newContext(settings);
  const scopes = (grant.scope ?? '').split(' ').filter((scope) => scope !== '');
  try {
    const client = await createClient(settings, context);
    let result;
    if (grant.grant_type === 'authorization_code') {
      result = await client.acquireTokenByCode({ code: grant.code ?? '', redirectUri: grant.redirect_uri ?? settings.redirectUri, codeVerifier: grant.code_verifier ?? '', scopes });
    } else if (grant.grant_type === 'refresh_token') {
      // forceCache: the account is not in the fresh cache, and without it MSAL would not cache the rotated refresh token.
      result = await client.acquireTokenByRefreshToken({ refreshToken: grant.refresh_token ?? '', scopes, forceCache: true });
    } else if (grant.grant_type === 'client_credentials') {
      result = await client.acquireTokenByClientCredential({ scopes, skipCache: true });
    } else {
      throw new MailqueueError(FailureType.InvalidConfiguration, `Grant type ${grant.grant_type ?? '(none)'} is not supported for Microsoft; use authorization_code, refresh_token or client_credentials`, {});
    }
    if (result === null || result.accessToken === '') {
      throw new MailqueueError(FailureType.ProtocolError, `The microsoft token endpoint ${context.endpoint} returned no access_token`, { endpoint: context.endpoint });
    }

    const lifetimeMs = result.expiresOn === null ? 3600_000 : Math.max(0, result.expiresOn.getTime() - Date.now());
    const claims = result.idTokenClaims as Record<string, unknown>;
    const address = claims.email ?? claims.preferred_username ?? result.account?.username;
    return {
      accessToken: result.accessToken,
      expiresAt: now() + lifetimeMs,
      refreshToken: grant.grant_type === 'client_credentials' ? null : refreshTokenFromCache(client),
      scopes: result.scopes,
      accountAddress: typeof address === 'string' && address !== '' ? address : null,
    };
  } catch (error) {
    throw translateFailure(error, context);
  }
}
