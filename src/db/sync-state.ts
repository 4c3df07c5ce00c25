import type { Knex } from 'knex';
import type { SourceCursor } from '../mail/mail-source.js';

/** Reads the stored cursor of a queue's mail source, or null before the first complete listing. */
export async function readSyncCursor(db: Knex, queueId: number, protocol: string): Promise<SourceCursor | null> {
  const row: { cursor: SourceCursor | null } | undefined = await db('mailbox_sync_state').where({ queue_id: queueId, protocol }).first('cursor');
  return row?.cursor ?? null;
}

/** Stores the cursor after every message of its page is stored. */
export async function writeSyncCursor(db: Knex, queueId: number, protocol: string, cursor: SourceCursor): Promise<void> {
  await db('mailbox_sync_state')
    .insert({ queue_id: queueId, protocol, cursor: JSON.stringify(cursor) })
    .onConflict(['queue_id', 'protocol'])
    .merge({ cursor: JSON.stringify(cursor), updated_at: db.fn.now() });
}
