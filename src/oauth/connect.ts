import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ensureConnection, findConnection, loadClientSettings, type ConnectionPurpose, type OAuthConnectionRecord } from '../db/oauth.js';
import type { QueueRecord } from '../db/queues.js';
import { FailureType, MailqueueError } from '../errors.js';
import { decryptSecret, encryptSecret } from '../secrets.js';
import { createAuthorizationSecrets } from './pkce.js';
import { buildAuthorizationUrl, consentRequiredError, needsAdminApproval, providerScopes, requestToken, TokenEndpointError } from './provider.js';

/** How long an authorization URL stays usable, in milliseconds. */
const authorizationLifetimeMs = 15 * 60 * 1000;

export interface ConnectOptions {
  db: Knex;
  secretKey: Buffer;
  logger: Logger;
}

export interface StartedAuthorization {
  /** Open this in a browser and sign in as the mailbox's account. */
  url: string;
  state: string;
  redirectUri: string;
  expiresAt: string;
  connectionId: number;
}

/** Returns the integration and scopes a queue side connects with, and throws when that side uses no delegated OAuth2. */
function connectionTarget(queue: QueueRecord, purpose: ConnectionPurpose): { integrationId: number; scopes: readonly string[]; loginHint: string } {
  const incoming = queue.incoming;
  if (purpose === 'incoming') {
    if (incoming.protocol === 'imap-oauth2') {
      return { integrationId: incoming.integrationId, scopes: incoming.provider === 'google' ? providerScopes.google.mail : providerScopes.microsoft.imap, loginHint: incoming.user };
    }
    if (incoming.protocol === 'gmail') return { integrationId: incoming.integrationId, scopes: providerScopes.google.mail, loginHint: incoming.user };
    if (incoming.protocol === 'graph') return { integrationId: incoming.integrationId, scopes: providerScopes.microsoft.graph, loginHint: incoming.user };
    const why = incoming.protocol === 'graph-tenant' ? 'it uses the tenant application permissions of its integration, granted by an admin' : `it reads over ${incoming.protocol} with a password`;
    throw new MailqueueError(FailureType.InvalidConfiguration, `Queue ${queue.number} needs no incoming sign-in: ${why}`, { queueId: queue.id });
  }

  const outgoing = queue.outgoing;
  if (outgoing === null || !('integrationId' in outgoing) || outgoing.integrationId === null) {
    let why = 'it sends over SMTP with a password';
    if (outgoing === null) why = 'it sends no mail';
    else if ('useSameMethodAsIncoming' in outgoing && outgoing.useSameMethodAsIncoming) why = 'it shares the incoming connection (connect without --outgoing)';
    throw new MailqueueError(FailureType.InvalidConfiguration, `Queue ${queue.number} needs no outgoing sign-in: ${why}`, { queueId: queue.id });
  }
  const user = outgoing.protocol === 'smtp-oauth2' ? outgoing.user : incoming.user;
  const google = outgoing.protocol === 'gmail' || (outgoing.protocol === 'smtp-oauth2' && outgoing.provider === 'google');
  let scopes: readonly string[] = providerScopes.microsoft.imap;
  if (google) scopes = providerScopes.google.mail;
  else if (outgoing.protocol === 'graph') scopes = providerScopes.microsoft.graph;
  return { integrationId: outgoing.integrationId, scopes, loginHint: user };
}

/**
 * Starts connecting one side of a queue: stores a fresh `state` with its PKCE verifier (encrypted,
 * valid 15 minutes) and returns the provider's authorization URL. Called by the CLI and later the API.
 */
export async function startAuthorization(options: ConnectOptions, queue: QueueRecord, purpose: ConnectionPurpose): Promise<StartedAuthorization> {
  const target = connectionTarget(queue, purpose);
  const client = await loadClientSettings(options.db, options.secretKey, target.integrationId);
  const secrets = createAuthorizationSecrets();
  const expiresAt = new Date(Date.now() + authorizationLifetimeMs);

  const connectionId = await options.db.transaction(async (trx) => {
    const id = await ensureConnection(trx, queue.id, purpose, target.integrationId);
    await trx('oauth_connections').where({ id }).update({ scopes: JSON.stringify(target.scopes) });
    await trx('oauth_pending_authorizations').where('expires_at', '<', trx.fn.now()).delete();
    await trx('oauth_pending_authorizations').insert({
      state: secrets.state,
      connection_id: id,
      code_verifier_ciphertext: encryptSecret(options.secretKey, secrets.codeVerifier),
      redirect_uri: client.redirectUri,
      expires_at: expiresAt,
    });
    return id;
  });

  options.logger.info({ queueId: queue.id, purpose, connectionId }, 'oauth authorization started');
  return {
    url: await buildAuthorizationUrl(client, { state: secrets.state, codeChallenge: secrets.codeChallenge, scopes: target.scopes, loginHint: target.loginHint }),
    state: secrets.state,
    redirectUri: client.redirectUri,
    expiresAt: expiresAt.toISOString(),
    connectionId,
  };
}

/**
 * Completes an authorization from the URL the provider redirected the browser to: checks the
 * state, redeems the code with the PKCE verifier, and stores both tokens encrypted, marking the
 * connection connected (a degraded streak ends here). The pending row is used once.
 *
 * @throws MailqueueError ConsentRequired (with the permissions and the admin-consent URL) when
 *   Microsoft reports that the tenant admin must approve; InvalidConfiguration for an unknown or
 *   expired state, or any other error the provider put in the redirect.
 */
export async function completeAuthorization(options: ConnectOptions, redirectUrl: string): Promise<OAuthConnectionRecord> {
  let url: URL;
  try {
    url = new URL(redirectUrl);
  } catch {
    throw new MailqueueError(FailureType.InvalidConfiguration, 'The callback is not a URL: paste the whole address the browser was sent to, starting with http', {});
  }
  const state = url.searchParams.get('state');
  if (state === null) {
    throw new MailqueueError(FailureType.InvalidConfiguration, 'The callback URL has no state parameter: paste the whole address the browser was sent to after signing in', {});
  }

  const pending: { connection_id: number; code_verifier_ciphertext: string; redirect_uri: string; expires_at: Date } | undefined = await options.db('oauth_pending_authorizations').where({ state }).first();
  if (!pending || pending.expires_at.getTime() < Date.now()) {
    throw new MailqueueError(FailureType.InvalidConfiguration, 'The callback belongs to no authorization in progress (unknown or expired state): run `mailqueue oauth connect` again and use the new URL within 15 minutes', {});
  }
  const connection: { integration_id: number; queue_id: number; purpose: ConnectionPurpose; scopes: string[] } = await options.db('oauth_connections').where({ id: pending.connection_id }).first('integration_id', 'queue_id', 'purpose', 'scopes');
  const client = await loadClientSettings(options.db, options.secretKey, connection.integration_id);
  const log = options.logger.child({ queueId: connection.queue_id, purpose: connection.purpose, connectionId: pending.connection_id });

  const error = url.searchParams.get('error');
  if (error !== null) {
    const description = url.searchParams.get('error_description') ?? '';
    await options.db('oauth_pending_authorizations').where({ state }).delete();
    if (needsAdminApproval({ error, description, errorCodes: [] })) {
      log.warn({ error }, 'oauth sign-in needs admin approval');
      throw consentRequiredError(client, connection.scopes, description || error);
    }
    throw new MailqueueError(FailureType.InvalidConfiguration, `Signing in failed at the provider: ${error}${description === '' ? '' : ` (${description.split(/\r?\n/)[0]})`}; run \`mailqueue oauth connect\` again`, { error });
  }
  const code = url.searchParams.get('code');
  if (code === null) {
    throw new MailqueueError(FailureType.InvalidConfiguration, 'The callback URL has neither code nor error: paste the whole address the browser was sent to', {});
  }

  // Used once: a second callback with the same state finds nothing.
  const claimed = await options.db('oauth_pending_authorizations').where({ state }).delete();
  if (claimed === 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, 'This authorization was completed already: run `mailqueue oauth connect` again to reconnect', {});
  }

  let tokens;
  try {
    tokens = await requestToken(client, { grant_type: 'authorization_code', code, redirect_uri: pending.redirect_uri, code_verifier: decryptSecret(options.secretKey, pending.code_verifier_ciphertext), scope: connection.scopes.join(' ') });
  } catch (failure) {
    if (failure instanceof TokenEndpointError && failure.type === FailureType.ConsentRequired) {
      throw consentRequiredError(client, connection.scopes, failure.answer.description || failure.answer.error);
    }
    throw failure;
  }
  if (tokens.refreshToken === null) {
    throw new MailqueueError(FailureType.InvalidConfiguration, 'The provider issued no refresh token: for Microsoft include offline_access, for Google revoke the app at myaccount.google.com/permissions and connect again', {});
  }

  await options.db('oauth_connections')
    .where({ id: pending.connection_id })
    .update({
      refresh_token_ciphertext: encryptSecret(options.secretKey, tokens.refreshToken),
      access_token_ciphertext: encryptSecret(options.secretKey, tokens.accessToken),
      access_token_expires_at: new Date(tokens.expiresAt),
      account_address: tokens.accountAddress,
      state: 'connected',
      last_error: null,
      degraded_since: null,
      connected_at: options.db.fn.now(),
      updated_at: options.db.fn.now(),
    });
  log.info({ accountAddress: tokens.accountAddress }, 'oauth connection stored');

  const record = await findConnection(options.db, connection.queue_id, connection.purpose);
  if (record === null) throw new MailqueueError(FailureType.InvalidConfiguration, `OAuth2 connection ${pending.connection_id} vanished while it was stored`, {});
  return record;
}
