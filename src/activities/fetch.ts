import { Context } from '@temporalio/activity';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { readCursor, writeCursor } from '../db/cursors.js';
import { getQueueById, isImapIncoming, loadImapConnection, type QueueRecord } from '../db/queues.js';
import { FailureType, MailqueueError } from '../errors.js';
import type { MailSource } from '../mail/mail-source.js';
import { tokenProviderForQueue } from '../oauth/token-provider.js';
import { fetchFromSource } from './fetch-source.js';
import type { IncomingMailbox, MessageSize } from '../mail/incoming.js';
import type { ImapConnectionSettings } from '../mail/incoming.js';
import { ingestRawMessage } from './ingest.js';

/** Limits for one fetch activity; the workflow calls it again while `more` is true. */
export interface FetchBatchLimits {
  /** Maximum messages downloaded per activity. */
  maxMessages: number;
  /** Maximum bytes (RFC822.SIZE) downloaded per activity; one larger message still goes alone. */
  maxBytes: number;
}

export const defaultFetchBatchLimits: FetchBatchLimits = { maxMessages: 50, maxBytes: 50 * 1024 * 1024 };

/** Result of the fetch activity: counts and the cursor, never message content. */
export interface FetchResult {
  folder: string;
  uidValidity: string;
  lastUid: number;
  uidValidityChanged: boolean;
  /** Newly stored rows. */
  stored: number;
  /** Server copies already stored (a retry, or a re-read after a UIDVALIDITY change). */
  alreadyStored: number;
  /** Same Message-ID and content as a stored mail of this queue. */
  duplicates: number;
  parseErrors: number;
  /** More new messages wait on the server beyond this batch. */
  more: boolean;
  /** Listed messages skipped without download because their key was stored before (POP3, Gmail, Graph). */
  skippedKnown?: number;
  /** Server copies deleted in this activity (POP3 and the cloud sources delete while fetching). */
  deletedFromServer?: number;
  /** The source's cursor had expired and it restarted with a full sync (Gmail, Graph). */
  resynced?: boolean;
}

export interface FetchDependencies {
  db: Knex;
  secretKey: () => Buffer;
  connectImap: (settings: ImapConnectionSettings, log: Logger) => Promise<IncomingMailbox & { logout(): Promise<void> }>;
  /** Opens the protocol-neutral source of a queue that does not read over IMAP (POP3, Gmail, Graph); default `openMailSource` of mail-sources.ts. */
  openMailSource?: (queue: QueueRecord, log: Logger) => Promise<MailSource>;
  logger: Logger;
  limits?: FetchBatchLimits;
}

/** Picks the UIDs for one batch: in UID order, within the count and byte limits, at least one. */
export function planBatch(sizes: MessageSize[], limits: FetchBatchLimits): MessageSize[] {
  const batch: MessageSize[] = [];
  let bytes = 0;
  for (const entry of sizes) {
    if (batch.length >= limits.maxMessages) {
      break;
    }
    if (batch.length > 0 && bytes + entry.size > limits.maxBytes) {
      break;
    }
    batch.push(entry);
    bytes += entry.size;
  }
  return batch;
}

/**
 * Loads the IMAP settings of a queue: the decrypted password, or for `imap-oauth2` a fresh access
 * token from the queue's connection (ReconnectRequired when the grant was refused).
 */
export async function loadImapSettings(deps: FetchDependencies, queue: QueueRecord, log: Logger): Promise<ImapConnectionSettings & { invalidateToken?: () => void }> {
  if (queue.incoming.protocol !== 'imap-oauth2') return loadImapConnection(deps.db, deps.secretKey(), queue);
  const tokens = await tokenProviderForQueue({ db: deps.db, secretKey: deps.secretKey(), logger: log }, queue, 'incoming');
  const settings = await loadImapConnection(deps.db, deps.secretKey(), queue, tokens);
  return { ...settings, invalidateToken: () => tokens.invalidate() };
}

/** Connects; a rejected access token is forgotten, so the retry of the activity fetches a new one. */
export async function connectWithSettings(deps: FetchDependencies, settings: ImapConnectionSettings & { invalidateToken?: () => void }, log: Logger): ReturnType<FetchDependencies['connectImap']> {
  const { invalidateToken, ...connection } = settings;
  try {
    return await deps.connectImap(connection, log);
  } catch (error) {
    if (invalidateToken !== undefined && error instanceof MailqueueError && error.type === FailureType.AuthenticationFailed) {
      invalidateToken();
      log.warn('imap rejected the access token; it is refreshed on the next attempt');
    }
    throw error;
  }
}

export function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Outside an activity (import, tests) there is nothing to heartbeat to.
  }
}

/**
 * Downloads one bounded batch of new messages from the queue's IMAP folder and
 * stores each one (raw and parsed) before the cursor moves past it. A retry or a
 * crash at any point re-reads at most this batch, and storage skips what committed.
 */
export async function fetchNewMail(deps: FetchDependencies, queueId: number): Promise<FetchResult> {
  const queue = await getQueueById(deps.db, queueId);
  const incoming = queue.incoming;
  if (!isImapIncoming(incoming)) {
    return fetchFromSource(deps, queue);
  }
  const folder = incoming.folder;
  const log = deps.logger.child({ queueId, queueNumber: queue.number, folder });
  const settings = await loadImapSettings(deps, queue, log);
  const limits = deps.limits ?? defaultFetchBatchLimits;

  const mailbox = await connectWithSettings(deps, settings, log);
  try {
    const session = await mailbox.openFolder(folder);
    try {
      const uidValidity = session.state.uidValidity;
      const cursor = await readCursor(deps.db, queueId, folder);
      const uidValidityChanged = cursor !== null && cursor.uidValidity !== uidValidity;
      if (uidValidityChanged) {
        // UIDs of the old UIDVALIDITY mean nothing now; re-read the folder and let
        // Message-ID plus content hash keep already stored mail from doubling.
        log.warn({ previousUidValidity: cursor.uidValidity, uidValidity }, 'uidvalidity changed; re-reading folder');
      }
      const afterUid = cursor !== null && !uidValidityChanged ? cursor.lastUid : 0;

      const waiting = await session.listAfter(afterUid);
      const batch = planBatch(waiting, limits);
      const result: FetchResult = {
        folder,
        uidValidity,
        lastUid: afterUid,
        uidValidityChanged,
        stored: 0,
        alreadyStored: 0,
        duplicates: 0,
        parseErrors: 0,
        more: waiting.length > batch.length,
      };
      if (batch.length === 0) {
        if (uidValidityChanged) {
          await writeCursor(deps.db, queueId, folder, { uidValidity, lastUid: 0 });
        }
        return result;
      }

      const downloaded = await session.download(batch.map((entry) => entry.uid));
      downloaded.sort((a, b) => a.uid - b.uid);
      for (const message of downloaded) {
        const outcome = await ingestRawMessage(
          deps.db,
          message.raw,
          {
            queueId,
            sourceKey: `imap:${folder}:${uidValidity}:${message.uid}`,
            maxMessageBytes: queue.maxMessageBytes,
            imported: false,
            mailbox: { folder, uidValidity, uid: message.uid },
          },
          log,
        );
        if (outcome.parseFailed) {
          result.parseErrors += 1;
        }
        if (outcome.status === 'stored') {
          result.stored += 1;
          log.info({ uid: message.uid, messageRowId: outcome.messageRowId }, 'message stored');
        } else if (outcome.status === 'duplicate') {
          result.duplicates += 1;
          log.info({ uid: message.uid, messageRowId: outcome.messageRowId }, 'duplicate message not stored again');
        } else {
          result.alreadyStored += 1;
        }
        heartbeat({ uidValidity, uid: message.uid });
      }

      // Messages that vanished between listing and download are skipped too: they are gone.
      result.lastUid = batch[batch.length - 1].uid;
      await writeCursor(deps.db, queueId, folder, { uidValidity, lastUid: result.lastUid });
      return result;
    } finally {
      await session.close();
    }
  } finally {
    await mailbox.logout().catch((error: unknown) => log.warn({ err: error }, 'imap logout failed'));
  }
}
