import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { classifyAutomation } from '../domain/automation.js';
import { storeMessage, type MailboxLocation, type StoreMessageOutcome } from '../db/messages.js';
import { contentHash } from '../mail/content-hash.js';
import { parseMessage } from '../mail/parse.js';

export interface IngestOptions {
  queueId: number;
  sourceKey: string;
  maxMessageBytes: number;
  imported: boolean;
  direction?: 'incoming' | 'outgoing';
  mailbox?: MailboxLocation;
  ticketId?: number;
  /** Alias addresses the message was delivered to, as reported by the source. */
  deliveredTo?: string[];
  /** Record the source key in `mailbox_source_items` (protocol-neutral sources). */
  recordSourceItem?: boolean;
  /** Time budget for parsing one message, in milliseconds. */
  parseTimeoutMs?: number;
}

export type IngestOutcome = StoreMessageOutcome & { parseFailed: boolean };

/**
 * Parses and stores one raw message in its own transaction. Parsing never throws,
 * because a message that fails to parse is stored raw with its error. So one bad
 * message cannot stop the caller's loop, and only database errors propagate.
 */
export async function ingestRawMessage(db: Knex, raw: Buffer, options: IngestOptions, log: Logger): Promise<IngestOutcome> {
  const parsed = await parseMessage(raw, { maxBytes: options.maxMessageBytes, timeoutMs: options.parseTimeoutMs });
  if (parsed.parseError !== null) {
    log.warn({ queueId: options.queueId, sourceKey: options.sourceKey, messageId: parsed.messageId, parseError: parsed.parseError }, 'message stored with a parse error');
  }

  const automation = classifyAutomation({
    headers: parsed.headers,
    from: parsed.from,
    replyTo: parsed.replyTo,
    returnPath: parsed.returnPath,
    contentType: parsed.contentType,
    hasBounceReport: parsed.bounce !== null,
  });

  const outcome = await db.transaction((trx) =>
    storeMessage(trx, {
      queueId: options.queueId,
      direction: options.direction ?? 'incoming',
      sourceKey: options.sourceKey,
      raw,
      contentHash: contentHash(raw),
      parsed,
      automation,
      imported: options.imported,
      mailbox: options.mailbox,
      ticketId: options.ticketId,
      deliveredTo: options.deliveredTo,
      recordSourceItem: options.recordSourceItem,
    }),
  );

  if (outcome.status === 'stored' && outcome.messageIdReused) {
    log.warn({ queueId: options.queueId, messageRowId: outcome.messageRowId, messageId: parsed.messageId }, 'message id reused with different content; stored as a separate mail');
  }
  return { ...outcome, parseFailed: parsed.parseError !== null };
}
