import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { loadClientSettings, type ConnectionPurpose, type ConnectionRow } from '../db/oauth.js';
import type { QueueRecord } from '../db/queues.js';
import { FailureType, MailqueueError } from '../errors.js';
import type { AccessTokenProvider } from '../mail/access-token.js';
import { decryptSecret, encryptSecret } from '../secrets.js';
import { providerScopes, requestToken, type OAuthClientSettings, type TokenSet } from './provider.js';

/** A cached access token is used only while it stays valid for at least this long, in milliseconds. */
const minimumValidityMs = 60_000;

export interface TokenProviderOptions {
  db: Knex;
  secretKey: Buffer;
  logger: Logger;
  /** Clock for expiry checks; tests replace it. */
  now?: () => number;
}

/**
 * Creates the access-token provider of one stored connection (a signed-in account). The cached
 * token is used while it stays valid for another minute. Otherwise the refresh token is redeemed
 * under a row lock, so the incoming and outgoing sides sharing the connection never refresh at
 * the same moment. The new access token and the rotated refresh token are stored in that transaction.
 *
 * A rejected grant (`invalid_grant`) marks the connection degraded with the reason and the start
 * of the failure streak, and throws ReconnectRequired. A degraded connection throws it again
 * without contacting the provider until `mailqueue oauth connect` stores a new grant.
 */
export function createConnectionTokenProvider(options: TokenProviderOptions, connectionId: number): AccessTokenProvider {
  const now = options.now ?? Date.now;
  let cached: { token: string; expiresAt: number } | null = null;
  // Set by `invalidate`: the stored token was rejected, so the next call refreshes even if it looks valid.
  let forceRefresh = false;
  const log = options.logger.child({ oauthConnectionId: connectionId });

  return {
    async getAccessToken(): Promise<string> {
      if (cached !== null && cached.expiresAt - now() > minimumValidityMs) return cached.token;

      const outcome = await options.db.transaction(async (trx) => {
        const row: ConnectionRow | undefined = await trx('oauth_connections').where({ id: connectionId }).forUpdate().first();
        if (!row) {
          throw new MailqueueError(FailureType.InvalidConfiguration, `OAuth2 connection ${connectionId} does not exist: connect the mailbox with \`mailqueue oauth connect\``, { connectionId });
        }
        if (row.state !== 'connected' || row.refresh_token_ciphertext === null) {
          return { kind: 'disconnected' as const, row };
        }
        if (!forceRefresh && row.access_token_ciphertext !== null && row.access_token_expires_at !== null && row.access_token_expires_at.getTime() - now() > minimumValidityMs) {
          return { kind: 'token' as const, token: decryptSecret(options.secretKey, row.access_token_ciphertext), expiresAt: row.access_token_expires_at.getTime() };
        }

        const client = await loadClientSettings(trx, options.secretKey, row.integration_id);
        let tokens: TokenSet;
        try {
          tokens = await requestToken(client, { grant_type: 'refresh_token', refresh_token: decryptSecret(options.secretKey, row.refresh_token_ciphertext), scope: row.scopes.join(' ') }, now);
        } catch (error) {
          if (error instanceof MailqueueError && (error.type === FailureType.ReconnectRequired || error.type === FailureType.ConsentRequired)) {
            return { kind: 'refused' as const, row, error };
          }
          throw error;
        }

        await trx('oauth_connections')
          .where({ id: connectionId })
          .update({
            access_token_ciphertext: encryptSecret(options.secretKey, tokens.accessToken),
            access_token_expires_at: new Date(tokens.expiresAt),
            // Stored in the same transaction as the access token: a rotated refresh token is never lost.
            ...(tokens.refreshToken === null ? {} : { refresh_token_ciphertext: encryptSecret(options.secretKey, tokens.refreshToken) }),
            last_error: null,
            updated_at: trx.fn.now(),
          });
        log.info({ rotated: tokens.refreshToken !== null, expiresAt: new Date(tokens.expiresAt).toISOString() }, 'oauth access token refreshed');
        return { kind: 'token' as const, token: tokens.accessToken, expiresAt: tokens.expiresAt };
      });

      if (outcome.kind === 'token') {
        forceRefresh = false;
        cached = { token: outcome.token, expiresAt: outcome.expiresAt };
        return outcome.token;
      }
      if (outcome.kind === 'refused') {
        await markDegraded(options.db, connectionId, outcome.error.message);
        log.warn({ reason: outcome.error.message }, 'oauth refresh refused; connection degraded');
        throw new MailqueueError(FailureType.ReconnectRequired, outcome.error.message, { connectionId, ...outcome.error.details });
      }
      const reason = outcome.row.state === 'degraded'
        ? `The mailbox's OAuth2 grant was refused earlier (${outcome.row.last_error ?? 'no reason stored'}); reconnect it with \`mailqueue oauth connect --queue <number>\``
        : 'The mailbox is not connected yet: run `mailqueue oauth connect --queue <number>` and sign in';
      throw new MailqueueError(FailureType.ReconnectRequired, reason, { connectionId, state: outcome.row.state });
    },

    invalidate(): void {
      cached = null;
      forceRefresh = true;
    },
  };
}

/** Marks a connection degraded, keeping the start of a streak that is already running. */
async function markDegraded(db: Knex, connectionId: number, reason: string): Promise<void> {
  await db('oauth_connections')
    .where({ id: connectionId })
    .update({ state: 'degraded', last_error: reason, degraded_since: db.raw('coalesce(degraded_since, now())'), access_token_ciphertext: null, access_token_expires_at: null, updated_at: db.fn.now() });
}

/**
 * Application tokens of an integration (client-credentials grant, Microsoft Graph tenant
 * permissions), kept in memory until a minute before they expire. No refresh token exists here.
 */
export function createClientCredentialsTokenProvider(client: OAuthClientSettings, scopes: readonly string[] = providerScopes.microsoft.tenant, now: () => number = Date.now): AccessTokenProvider {
  let cached: { token: string; expiresAt: number } | null = null;
  return {
    async getAccessToken(): Promise<string> {
      if (cached !== null && cached.expiresAt - now() > minimumValidityMs) return cached.token;
      const tokens = await requestToken(client, { grant_type: 'client_credentials', scope: scopes.join(' ') }, now);
      cached = { token: tokens.accessToken, expiresAt: tokens.expiresAt };
      return tokens.accessToken;
    },
    invalidate(): void {
      cached = null;
    },
  };
}

/**
 * Returns the connection purpose whose token a queue side uses: the incoming connection for the incoming
 * side and for an outgoing side with `useSameMethodAsIncoming`, else the outgoing connection.
 */
export function connectionPurposeFor(queue: QueueRecord, side: ConnectionPurpose): ConnectionPurpose {
  if (side === 'outgoing' && queue.outgoing !== null && 'useSameMethodAsIncoming' in queue.outgoing && queue.outgoing.useSameMethodAsIncoming) return 'incoming';
  return side;
}

/**
 * Builds the token provider for one side of a queue: client credentials for `graph-tenant`
 * incoming, else the stored connection. Throws ReconnectRequired when the queue was never connected.
 */
export async function tokenProviderForQueue(options: TokenProviderOptions, queue: QueueRecord, side: ConnectionPurpose): Promise<AccessTokenProvider> {
  const purpose = connectionPurposeFor(queue, side);
  if (purpose === 'incoming' && queue.incoming.protocol === 'graph-tenant') {
    return createClientCredentialsTokenProvider(await loadClientSettings(options.db, options.secretKey, queue.incoming.integrationId), providerScopes.microsoft.tenant, options.now);
  }
  const row: { id: number } | undefined = await options.db('oauth_connections').where({ queue_id: queue.id, purpose }).first('id');
  if (!row) {
    throw new MailqueueError(
      FailureType.ReconnectRequired,
      `Queue ${queue.number} has no ${purpose} OAuth2 connection yet: run \`mailqueue oauth connect --queue ${queue.number}${purpose === 'outgoing' ? ' --outgoing' : ''}\` and sign in`,
      { queueId: queue.id, purpose },
    );
  }
  return createConnectionTokenProvider(options, row.id);
}
