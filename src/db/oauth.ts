import type { Knex } from 'knex';
import type { OAuthProviderName } from '../domain/queue-config.js';
import { FailureType, MailqueueError } from '../errors.js';
import type { OAuthClientSettings } from '../oauth/provider.js';
import { decryptSecret, encryptSecret } from '../secrets.js';

/** Kind of the `credentials` row holding an integration's client secret. */
const CLIENT_SECRET_KIND = 'oauth-client-secret';

/** An OAuth2 integration without its secret, as listed to operators. */
export interface OAuthIntegrationRecord {
  id: number;
  name: string;
  provider: OAuthProviderName;
  tenant: string | null;
  clientId: string;
  redirectUri: string;
  authorityUrl: string | null;
  tokenUrl: string | null;
  apiUrl: string | null;
  createdAt: string;
}

export interface NewOAuthIntegration {
  name: string;
  provider: OAuthProviderName;
  tenant: string | null;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  authorityUrl?: string | null;
  tokenUrl?: string | null;
  apiUrl?: string | null;
}

export type ConnectionState = 'pending' | 'connected' | 'degraded';
export type ConnectionPurpose = 'incoming' | 'outgoing';

/** A connection without its tokens. */
export interface OAuthConnectionRecord {
  id: number;
  integrationId: number;
  queueId: number;
  purpose: ConnectionPurpose;
  accountAddress: string | null;
  scopes: string[];
  state: ConnectionState;
  lastError: string | null;
  degradedSince: string | null;
  connectedAt: string | null;
  hasRefreshToken: boolean;
}

interface IntegrationRow {
  id: number;
  name: string;
  provider: OAuthProviderName;
  tenant: string | null;
  client_id: string;
  client_secret_credential_id: number;
  redirect_uri: string;
  authority_url: string | null;
  token_url: string | null;
  api_url: string | null;
  created_at: Date;
}

/** A connection row, tokens still encrypted. */
export interface ConnectionRow {
  id: number;
  integration_id: number;
  queue_id: number;
  purpose: ConnectionPurpose;
  account_address: string | null;
  scopes: string[];
  refresh_token_ciphertext: string | null;
  access_token_ciphertext: string | null;
  access_token_expires_at: Date | null;
  state: ConnectionState;
  last_error: string | null;
  degraded_since: Date | null;
  connected_at: Date | null;
}

function toIntegration(row: IntegrationRow): OAuthIntegrationRecord {
  return {
    id: row.id,
    name: row.name,
    provider: row.provider,
    tenant: row.tenant,
    clientId: row.client_id,
    redirectUri: row.redirect_uri,
    authorityUrl: row.authority_url,
    tokenUrl: row.token_url,
    apiUrl: row.api_url,
    createdAt: row.created_at.toISOString(),
  };
}

export function toConnection(row: ConnectionRow): OAuthConnectionRecord {
  return {
    id: row.id,
    integrationId: row.integration_id,
    queueId: row.queue_id,
    purpose: row.purpose,
    accountAddress: row.account_address,
    scopes: row.scopes,
    state: row.state,
    lastError: row.last_error,
    degradedSince: row.degraded_since === null ? null : row.degraded_since.toISOString(),
    connectedAt: row.connected_at === null ? null : row.connected_at.toISOString(),
    hasRefreshToken: row.refresh_token_ciphertext !== null,
  };
}

function checkUrl(field: string, value: string | null | undefined): void {
  if (value === null || value === undefined) return;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new MailqueueError(FailureType.InvalidConfiguration, `${field} "${value}" is not a URL: give an absolute URL such as https://login.example.com`, { field });
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `${field} "${value}" must use https (plain http is accepted for loopback addresses only)`, { field });
  }
}

/**
 * Creates an integration and stores its client secret encrypted in `credentials`, in one transaction.
 *
 * @throws MailqueueError (InvalidConfiguration) for a taken name, an unknown provider, a Microsoft
 *   integration without tenant, or a URL that is not https (loopback http is accepted for tests,
 *   except as a Microsoft authority, which MSAL requires to be https).
 */
export async function createIntegration(db: Knex, secretKey: Buffer, input: NewOAuthIntegration): Promise<OAuthIntegrationRecord> {
  if (input.provider !== 'microsoft' && input.provider !== 'google') {
    throw new MailqueueError(FailureType.InvalidConfiguration, `provider "${String(input.provider)}" is not supported: use microsoft or google`, { field: 'provider' });
  }
  if (input.provider === 'microsoft' && (input.tenant === null || input.tenant.trim() === '')) {
    throw new MailqueueError(FailureType.InvalidConfiguration, 'tenant is missing: give the tenant id or domain of the Microsoft 365 organisation (or "organizations")', { field: 'tenant' });
  }
  if (input.clientId.trim() === '' || input.clientSecret === '') {
    throw new MailqueueError(FailureType.InvalidConfiguration, 'client id and client secret must not be empty: copy them from the app registration', { field: 'clientId' });
  }
  checkUrl('redirectUri', input.redirectUri);
  checkUrl('authorityUrl', input.authorityUrl);
  if (input.provider === 'microsoft' && input.authorityUrl && !input.authorityUrl.startsWith('https://')) {
    // MSAL accepts only an https authority, so a local fake needs TLS and MAILQUEUE_OAUTH_CA_FILE.
    throw new MailqueueError(FailureType.InvalidConfiguration, `authorityUrl "${input.authorityUrl}" is invalid for Microsoft: MSAL requires https, also on loopback. Serve the authority over TLS and name its CA in MAILQUEUE_OAUTH_CA_FILE`, { field: 'authorityUrl' });
  }
  checkUrl('tokenUrl', input.tokenUrl);
  checkUrl('apiUrl', input.apiUrl);

  return db.transaction(async (trx) => {
    const taken = await trx('oauth_integrations').where({ name: input.name }).first('id');
    if (taken) {
      throw new MailqueueError(FailureType.InvalidConfiguration, `An integration named "${input.name}" exists already: choose another name`, { name: input.name });
    }
    const [credential] = await trx('credentials').insert({ kind: CLIENT_SECRET_KIND, ciphertext: encryptSecret(secretKey, input.clientSecret) }).returning<Array<{ id: number }>>('id');
    const [row] = await trx('oauth_integrations')
      .insert({
        name: input.name,
        provider: input.provider,
        tenant: input.tenant,
        client_id: input.clientId.trim(),
        client_secret_credential_id: credential.id,
        redirect_uri: input.redirectUri,
        authority_url: input.authorityUrl ?? null,
        token_url: input.tokenUrl ?? null,
        api_url: input.apiUrl ?? null,
      })
      .returning<IntegrationRow[]>('*');
    return toIntegration(row);
  });
}

export async function listIntegrations(db: Knex): Promise<OAuthIntegrationRecord[]> {
  const rows: IntegrationRow[] = await db('oauth_integrations').orderBy('name').select('*');
  return rows.map(toIntegration);
}

export async function getIntegration(db: Knex, id: number): Promise<OAuthIntegrationRecord> {
  const row: IntegrationRow | undefined = await db('oauth_integrations').where({ id }).first();
  if (!row) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `OAuth2 integration ${id} does not exist: run \`mailqueue oauth integrations list\``, { integrationId: id });
  }
  return toIntegration(row);
}

/** Loads an integration with its client secret decrypted. Activity-side and CLI only; never log the result. */
export async function loadClientSettings(db: Knex, secretKey: Buffer, integrationId: number): Promise<OAuthClientSettings> {
  const row: IntegrationRow | undefined = await db('oauth_integrations').where({ id: integrationId }).first();
  if (!row) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `OAuth2 integration ${integrationId} does not exist: run \`mailqueue oauth integrations list\``, { integrationId });
  }
  const credential: { ciphertext: string } | undefined = await db('credentials').where({ id: row.client_secret_credential_id }).first('ciphertext');
  if (!credential) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `OAuth2 integration "${row.name}" has lost its client secret record: add the integration again`, { integrationId });
  }
  return {
    provider: row.provider,
    tenant: row.tenant,
    clientId: row.client_id,
    clientSecret: decryptSecret(secretKey, credential.ciphertext),
    redirectUri: row.redirect_uri,
    authorityUrl: row.authority_url,
    tokenUrl: row.token_url,
  };
}

/** Returns the queue's connection for `purpose`, or null when it was never started. */
export async function findConnection(db: Knex, queueId: number, purpose: ConnectionPurpose): Promise<OAuthConnectionRecord | null> {
  const row: ConnectionRow | undefined = await db('oauth_connections').where({ queue_id: queueId, purpose }).first();
  return row ? toConnection(row) : null;
}

/** Creates the queue's connection row for `purpose` (state pending) or points it at `integrationId`; returns its id. */
export async function ensureConnection(trx: Knex.Transaction, queueId: number, purpose: ConnectionPurpose, integrationId: number): Promise<number> {
  const [row] = await trx('oauth_connections')
    .insert({ queue_id: queueId, purpose, integration_id: integrationId })
    .onConflict(['queue_id', 'purpose'])
    .merge({ integration_id: integrationId, updated_at: trx.fn.now() })
    .returning<Array<{ id: number }>>('id');
  return row.id;
}
