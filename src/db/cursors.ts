import type { Knex } from 'knex';

export interface MailboxCursor {
  uidValidity: string;
  lastUid: number;
}

export async function readCursor(db: Knex, queueId: number, folder: string): Promise<MailboxCursor | null> {
  const row: { uid_validity: string; last_uid: number } | undefined = await db('mailbox_cursors').where({ queue_id: queueId, folder }).first('uid_validity', 'last_uid');
  return row ? { uidValidity: row.uid_validity, lastUid: row.last_uid } : null;
}

export async function writeCursor(db: Knex, queueId: number, folder: string, cursor: MailboxCursor): Promise<void> {
  await db('mailbox_cursors')
    .insert({ queue_id: queueId, folder, uid_validity: cursor.uidValidity, last_uid: cursor.lastUid, updated_at: db.fn.now() })
    .onConflict(['queue_id', 'folder'])
    .merge();
}
