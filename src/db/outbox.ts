import type { Knex } from 'knex';

/** States of an outbox row. `sending` marks an attempt in flight; a row found there after a crash is uncertain. */
export type OutboxState = 'pending' | 'sending' | 'sent' | 'failed' | 'handed-to-event';

export interface OutboxRecord {
  id: number;
  queueId: number;
  ticketId: number | null;
  kind: 'autoresponse' | 'reply';
  idempotencyKey: string;
  messageId: string;
  envelopeFrom: string;
  recipients: string[];
  subject: string;
  raw: Buffer;
  state: OutboxState;
  attempts: number;
  lastError: string | null;
  failureReason: string | null;
  userId: number | null;
  createdAt: string;
  sentAt: string | null;
}

interface OutboxRow {
  id: number;
  queue_id: number;
  ticket_id: number | null;
  kind: 'autoresponse' | 'reply';
  idempotency_key: string;
  message_id: string;
  envelope_from: string;
  recipients: string[];
  subject: string;
  raw: Buffer;
  state: OutboxState;
  attempts: number;
  last_error: string | null;
  failure_reason: string | null;
  user_id: number | null;
  created_at: Date;
  sent_at: Date | null;
}

function toRecord(row: OutboxRow): OutboxRecord {
  return {
    id: row.id,
    queueId: row.queue_id,
    ticketId: row.ticket_id,
    kind: row.kind,
    idempotencyKey: row.idempotency_key,
    messageId: row.message_id,
    envelopeFrom: row.envelope_from,
    recipients: row.recipients,
    subject: row.subject,
    raw: row.raw,
    state: row.state,
    attempts: row.attempts,
    lastError: row.last_error,
    failureReason: row.failure_reason,
    userId: row.user_id,
    createdAt: row.created_at.toISOString(),
    sentAt: row.sent_at ? row.sent_at.toISOString() : null,
  };
}

/** A row to insert: the composed mail and what it belongs to. */
export type NewOutboxRow = Pick<OutboxRecord, 'queueId' | 'ticketId' | 'kind' | 'idempotencyKey' | 'messageId' | 'envelopeFrom' | 'recipients' | 'subject' | 'raw' | 'userId'> & {
  /** The incoming message this mail answers, if any. */
  inReplyToMessageRowId: number | null;
};

/** Inserts a pending row in the caller's transaction; an existing row with the same idempotency key wins. */
export async function insertOutboxRow(trx: Knex.Transaction, row: NewOutboxRow): Promise<{ id: number; created: boolean }> {
  const inserted: Array<{ id: number }> = await trx('outbox')
    .insert({
      queue_id: row.queueId,
      ticket_id: row.ticketId,
      kind: row.kind,
      idempotency_key: row.idempotencyKey,
      message_id: row.messageId,
      envelope_from: row.envelopeFrom,
      recipients: JSON.stringify(row.recipients),
      subject: row.subject.replace(/\u0000/g, ''),
      raw: row.raw,
      user_id: row.userId,
      in_reply_to_message_row_id: row.inReplyToMessageRowId,
    })
    .onConflict('idempotency_key')
    .ignore()
    .returning('id');
  if (inserted.length > 0) return { id: inserted[0].id, created: true };
  const existing: { id: number } = await trx('outbox').where({ idempotency_key: row.idempotencyKey }).first('id');
  return { id: existing.id, created: false };
}

export async function findOutbox(db: Knex, id: number): Promise<OutboxRecord | null> {
  const row: OutboxRow | undefined = await db('outbox').where({ id }).first();
  return row ? toRecord(row) : null;
}

/** Locks a row for the rest of the transaction. */
export async function lockOutbox(trx: Knex.Transaction, id: number): Promise<OutboxRecord | null> {
  const row: OutboxRow | undefined = await trx('outbox').where({ id }).forUpdate().first();
  return row ? toRecord(row) : null;
}

export async function updateOutbox(db: Knex, id: number, changes: Partial<{ state: OutboxState; attempts: number; last_error: string | null; failure_reason: string | null; raw: Buffer; subject: string; recipients: string; attempted_at: Date; sent_at: Date }>): Promise<void> {
  await db('outbox').where({ id }).update(changes);
}

/** Delivery state of a queue's outbox, for the workflow's `status`. */
export interface OutboxSummary {
  /** Rows waiting for delivery, oldest first. */
  pendingIds: number[];
  failed: number;
  lastFailure: { outboxId: number; ticketId: number | null; reason: string } | null;
}

export async function summariseOutbox(db: Knex, queueId: number): Promise<OutboxSummary> {
  const pending: Array<{ id: number }> = await db('outbox').where({ queue_id: queueId, state: 'pending' }).orderBy('id').limit(500).select('id');
  const failed = await db('outbox').where({ queue_id: queueId, state: 'failed' }).count<{ count: string }>('id as count').first();
  const last: { id: number; ticket_id: number | null; failure_reason: string | null } | undefined = await db('outbox')
    .where({ queue_id: queueId, state: 'failed' })
    .orderBy('id', 'desc')
    .first('id', 'ticket_id', 'failure_reason');
  return {
    pendingIds: pending.map((row) => row.id),
    failed: Number(failed?.count ?? 0),
    lastFailure: last ? { outboxId: last.id, ticketId: last.ticket_id, reason: last.failure_reason ?? '' } : null,
  };
}

/** Times (ms) of auto-responses to `recipient` since `sinceMs`, from any queue, excluding failed ones. */
export async function autoresponseTimesTo(db: Knex, recipient: string, sinceMs: number): Promise<number[]> {
  const rows: Array<{ created_at: Date }> = await db('outbox')
    .where({ kind: 'autoresponse' })
    .whereNot('state', 'failed')
    .where('created_at', '>', new Date(sinceMs))
    .whereRaw('recipients @> ?::jsonb', [JSON.stringify([recipient])])
    .select('created_at');
  return rows.map((row) => row.created_at.getTime());
}

export async function listOutboxForTicket(db: Knex, ticketId: number): Promise<OutboxRecord[]> {
  const rows: OutboxRow[] = await db('outbox').where({ ticket_id: ticketId }).orderBy('id').select('*');
  return rows.map(toRecord);
}
