import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { loadPop3Connection, type QueueRecord } from '../db/queues.js';
import { FailureType, MailqueueError } from '../errors.js';
import type { MailSource } from '../mail/mail-source.js';
import { getIntegration } from '../db/oauth.js';
import { createGmailSource } from '../mail/gmail.js';
import { createGraphSource } from '../mail/graph.js';
import { createPop3Source } from '../mail/pop3.js';
import { tokenProviderForQueue } from '../oauth/token-provider.js';

export interface MailSourceOptions {
  db: Knex;
  secretKey: Buffer;
  logger: Logger;
}

/**
 * Opens the mail source of a queue that does not read over IMAP, chosen by its incoming protocol.
 * Secrets are loaded and decrypted here, inside the activity.
 */
export async function openMailSource(options: MailSourceOptions, queue: QueueRecord): Promise<MailSource> {
  const incoming = queue.incoming;
  switch (incoming.protocol) {
    case 'pop3':
      return createPop3Source(await loadPop3Connection(options.db, options.secretKey, queue), options.logger);
    case 'gmail': {
      const integration = await getIntegration(options.db, incoming.integrationId);
      const tokens = await tokenProviderForQueue(options, queue, 'incoming');
      return createGmailSource({ apiBaseUrl: integration.apiUrl ?? undefined, userId: 'me', tokens }, options.logger);
    }
    case 'graph':
    case 'graph-tenant': {
      const integration = await getIntegration(options.db, incoming.integrationId);
      const tokens = await tokenProviderForQueue(options, queue, 'incoming');
      // A delegated token reads the signed-in user's mailbox; an application token names the mailbox.
      const mailbox = incoming.protocol === 'graph' ? 'me' : incoming.user;
      return createGraphSource({ apiBaseUrl: integration.apiUrl ?? undefined, mailbox, tokens }, options.logger);
    }
    default:
      throw new MailqueueError(FailureType.InvalidConfiguration, `Queue ${queue.number} reads over ${incoming.protocol}, which the IMAP path handles, not a mail source`, { queueId: queue.id, protocol: incoming.protocol });
  }
}
