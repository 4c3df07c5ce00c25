import type { Knex } from 'knex';
import { getQueueById, isImapIncoming } from '../db/queues.js';
import { connectWithSettings, loadImapSettings } from './fetch.js';
import type { FetchDependencies } from './fetch.js';

export interface DeleteResult {
  deleted: number;
  /** Moved to the queue's processed folder. */
  moved: number;
  /** Server copies under an older UIDVALIDITY that can no longer be addressed. */
  unreachable: number;
}

/**
 * Deletes from the server folder ("don't keep emails"), or moves to the processed
 * folder, exactly the copies whose message rows have committed (`mailbox_items` rows
 * are written in the same transaction as the message), and marks them. A crash
 * between the server command and the mark repeats it for UIDs that are already gone,
 * which the server ignores.
 */
export async function removeStoredFromFolder(deps: FetchDependencies, queueId: number): Promise<DeleteResult> {
  const queue = await getQueueById(deps.db, queueId);
  const result: DeleteResult = { deleted: 0, moved: 0, unreachable: 0 };
  const incoming = queue.incoming;
  // Other protocols delete inside the fetch activity.
  if (!isImapIncoming(incoming)) return result;
  const processedFolder = incoming.processedFolder ?? null;
  if (!incoming.dontKeepEmails && processedFolder === null) {
    return result;
  }
  const folder = incoming.folder;
  const log = deps.logger.child({ queueId, queueNumber: queue.number, folder });

  const pending: Array<{ id: number; uid_validity: string; uid: number }> = await deps.db('mailbox_items')
    .where({ queue_id: queueId, folder })
    .whereNull('deleted_from_server_at')
    .orderBy('uid')
    .select('id', 'uid_validity', 'uid');
  if (pending.length === 0) {
    return result;
  }

  const settings = await loadImapSettings(deps, queue, log);
  const mailbox = await connectWithSettings(deps, settings, log);
  try {
    const session = await mailbox.openFolder(folder);
    try {
      const current = pending.filter((item) => item.uid_validity === session.state.uidValidity);
      const stale = pending.filter((item) => item.uid_validity !== session.state.uidValidity);
      if (current.length > 0 && processedFolder !== null) {
        await session.move(current.map((item) => item.uid), processedFolder);
        await markDeleted(deps.db, current.map((item) => item.id));
        result.moved = current.length;
        log.info({ uids: current.map((item) => item.uid), uidValidity: session.state.uidValidity, processedFolder }, 'stored messages moved to the processed folder');
      } else if (current.length > 0) {
        await session.delete(current.map((item) => item.uid));
        await markDeleted(deps.db, current.map((item) => item.id));
        result.deleted = current.length;
        log.info({ uids: current.map((item) => item.uid), uidValidity: session.state.uidValidity }, 'stored messages deleted from server');
      }
      if (stale.length > 0) {
        await markDeleted(deps.db, stale.map((item) => item.id));
        result.unreachable = stale.length;
        log.warn({ count: stale.length }, 'stored messages under an old uidvalidity cannot be addressed; their copies under the new one are');
      }
    } finally {
      await session.close();
    }
  } finally {
    await mailbox.logout().catch((error: unknown) => log.warn({ err: error }, 'imap logout failed'));
  }
  return result;
}

async function markDeleted(db: Knex, ids: number[]): Promise<void> {
  await db('mailbox_items').whereIn('id', ids).update({ deleted_from_server_at: db.fn.now() });
}

