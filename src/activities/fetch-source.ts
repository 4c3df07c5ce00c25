import type { Knex } from 'knex';
import type { QueueRecord } from '../db/queues.js';
import { readSyncCursor, writeSyncCursor } from '../db/sync-state.js';
import type { SourceMessageRef } from '../mail/mail-source.js';
import { defaultFetchBatchLimits, heartbeat, type FetchBatchLimits, type FetchDependencies, type FetchResult } from './fetch.js';
import { ingestRawMessage } from './ingest.js';
import { openMailSource } from './mail-sources.js';

/** Refs of one batch: in listing order, within the count and byte limits, at least one. */
export function planSourceBatch(refs: SourceMessageRef[], limits: FetchBatchLimits): SourceMessageRef[] {
  const batch: SourceMessageRef[] = [];
  let bytes = 0;
  for (const ref of refs) {
    if (batch.length >= limits.maxMessages) break;
    const size = ref.size ?? 0;
    if (batch.length > 0 && bytes + size > limits.maxBytes) break;
    batch.push(ref);
    bytes += size;
  }
  return batch;
}

/** Keys of `keys` already recorded for the queue, with whether their server copy was deleted. */
async function knownSourceKeys(db: Knex, queueId: number, keys: string[]): Promise<Set<string>> {
  const known = new Set<string>();
  // Chunked so a POP3 mailbox with many kept messages stays under the bind-parameter limit.
  for (let start = 0; start < keys.length; start += 5000) {
    const rows: Array<{ source_key: string }> = await db('mailbox_source_items').where({ queue_id: queueId }).whereIn('source_key', keys.slice(start, start + 5000)).select('source_key');
    for (const row of rows) known.add(row.source_key);
  }
  return known;
}

/** Keys among `keys` whose rows committed and whose server copy is not known to be deleted. */
async function removableSourceKeys(db: Knex, queueId: number, keys: string[]): Promise<string[]> {
  const removable: string[] = [];
  for (let start = 0; start < keys.length; start += 5000) {
    const rows: Array<{ source_key: string }> = await db('mailbox_source_items').where({ queue_id: queueId }).whereIn('source_key', keys.slice(start, start + 5000)).whereNull('deleted_from_server_at').select('source_key');
    removable.push(...rows.map((row) => row.source_key));
  }
  return removable;
}

/**
 * Fetches one bounded batch from a protocol-neutral source (POP3, Gmail, Graph). Keys already
 * recorded are skipped without downloading, so a message listed twice (two labels, a resync, a
 * POP3 mailbox that keeps its mail) is stored once. Each message is stored in its own transaction
 * before the cursor moves. With "do not keep emails" the source deletes only keys whose rows
 * committed, in the same session, and POP3's QUIT commits the deletions: a crash before QUIT
 * leaves them on the server, and the next fetch deletes them again without storing them twice.
 */
export async function fetchFromSource(deps: FetchDependencies, queue: QueueRecord): Promise<FetchResult> {
  const protocol = queue.incoming.protocol;
  const log = deps.logger.child({ queueId: queue.id, queueNumber: queue.number, protocol });
  const limits = deps.limits ?? defaultFetchBatchLimits;
  const result: FetchResult = {
    folder: protocol,
    uidValidity: '',
    lastUid: 0,
    uidValidityChanged: false,
    stored: 0,
    alreadyStored: 0,
    duplicates: 0,
    parseErrors: 0,
    more: false,
    skippedKnown: 0,
    deletedFromServer: 0,
    resynced: false,
  };

  const cursor = await readSyncCursor(deps.db, queue.id, protocol);
  const source = await (deps.openMailSource ?? ((record, logger) => openMailSource({ db: deps.db, secretKey: deps.secretKey(), logger }, record)))(queue, log);
  try {
    const listing = await source.listNew(cursor, limits.maxMessages);
    if (listing.resynced) {
      result.resynced = true;
      log.warn({ refs: listing.refs.length }, 'mail source cursor expired; full resync, stored messages are skipped');
    }

    const listedKeys = [...new Set(listing.refs.map((ref) => ref.key))];
    const known = await knownSourceKeys(deps.db, queue.id, listedKeys);
    const seen = new Set<string>();
    const fresh = listing.refs.filter((ref) => {
      if (known.has(ref.key) || seen.has(ref.key)) return false;
      seen.add(ref.key);
      return true;
    });
    result.skippedKnown = listedKeys.length - fresh.length;
    const batch = planSourceBatch(fresh, limits);

    for (const ref of batch) {
      const message = await source.download(ref);
      if (message === null) {
        log.info({ sourceKey: ref.key }, 'message vanished from the source before download');
        continue;
      }
      const outcome = await ingestRawMessage(
        deps.db,
        message.raw,
        { queueId: queue.id, sourceKey: ref.key, maxMessageBytes: queue.maxMessageBytes, imported: false, deliveredTo: message.deliveredTo, recordSourceItem: true },
        log,
      );
      if (outcome.parseFailed) result.parseErrors += 1;
      if (outcome.status === 'stored') {
        result.stored += 1;
        log.info({ sourceKey: ref.key, messageRowId: outcome.messageRowId }, 'message stored');
      } else if (outcome.status === 'duplicate') {
        result.duplicates += 1;
        log.info({ sourceKey: ref.key, messageRowId: outcome.messageRowId }, 'duplicate message not stored again');
      } else {
        result.alreadyStored += 1;
      }
      heartbeat({ sourceKey: ref.key });
    }

    // The cursor moves only once every new ref of the listing is stored. Otherwise the next
    // activity lists the same page again and skips what this one stored.
    const complete = batch.length === fresh.length;
    result.more = !complete || listing.more;
    if (complete && listing.cursorAfter !== null) {
      await writeSyncCursor(deps.db, queue.id, protocol, listing.cursorAfter);
    }

    let removed: string[] = [];
    if (queue.incoming.dontKeepEmails) {
      removed = await removableSourceKeys(deps.db, queue.id, listedKeys);
      if (removed.length > 0) await source.remove(removed);
    }
    await source.close();
    if (removed.length > 0) {
      await deps.db('mailbox_source_items').where({ queue_id: queue.id }).whereIn('source_key', removed).update({ deleted_from_server_at: deps.db.fn.now() });
      result.deletedFromServer = removed.length;
      log.info({ deleted: removed.length }, 'stored messages deleted from the source');
    }
    return result;
  } finally {
    await source.close().catch((error: unknown) => log.warn({ err: error instanceof Error ? error.message : String(error) }, 'closing the mail source failed'));
  }
}
