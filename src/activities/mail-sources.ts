import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { loadPop3Connection, type QueueRecord } from '../db/queues.js';
import { FailureType, MailqueueError } from '../errors.js';
import type { MailSource } from '../mail/mail-source.js';
import { createPop3Source } from '../mail/pop3.js';

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
    default:
      throw new MailqueueError(FailureType.InvalidConfiguration, `protocol ${incoming.protocol} is not available in this build: choose imap, imap-oauth2 or pop3 for queue ${queue.number}`, { queueId: queue.id, protocol: incoming.protocol });
  }
}
