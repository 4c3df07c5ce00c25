import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { findTicketByNumber } from '../db/tickets.js';
import type { QueueRecord } from '../db/queues.js';
import { sha256Hex } from '../mail/content-hash.js';
import { FailureType, MailqueueError } from '../errors.js';
import { ingestRawMessage, type IngestOutcome } from './ingest.js';
import { threadPendingMessages, type ThreadResult } from './thread.js';

export interface ImportOptions {
  /** Record the messages as sent by the queue on this ticket (a Sent folder import). */
  outgoingTicketNumber?: number;
}

export interface ImportResult {
  outcomes: IngestOutcome[];
  /** Threading of the imported incoming messages; null for an outgoing import. */
  threaded: ThreadResult | null;
}

/**
 * Stores archived messages in a queue the way fetched mail is stored, marked as
 * imported so they never trigger mail, then threads them. Importing the same file
 * twice stores it once (the source key is the SHA-256 of its bytes).
 */
export async function importMessages(db: Knex, queue: QueueRecord, raws: Buffer[], options: ImportOptions, logger: Logger): Promise<ImportResult> {
  const log = logger.child({ queueId: queue.id, queueNumber: queue.number, import: true });
  let ticketId: number | undefined;
  if (options.outgoingTicketNumber !== undefined) {
    const ticket = await findTicketByNumber(db, options.outgoingTicketNumber);
    if (!ticket) {
      throw new MailqueueError(FailureType.InvalidConfiguration, `Ticket ${options.outgoingTicketNumber} does not exist: an outgoing import needs an existing ticket`);
    }
    ticketId = ticket.id;
  }

  const outcomes: IngestOutcome[] = [];
  for (const raw of raws) {
    const digest = sha256Hex(raw);
    outcomes.push(
      await ingestRawMessage(
        db,
        raw,
        {
          queueId: queue.id,
          sourceKey: ticketId === undefined ? `import:${digest}` : `import-outgoing:${digest}`,
          maxMessageBytes: queue.maxMessageBytes,
          imported: true,
          direction: ticketId === undefined ? 'incoming' : 'outgoing',
          ticketId,
        },
        log,
      ),
    );
  }

  if (ticketId !== undefined) {
    return { outcomes, threaded: null };
  }
  const threaded = await threadPendingMessages(db, queue.id, logger);
  return { outcomes, threaded };
}
