import type { Knex } from 'knex';
import { findTicketByNumber, listParticipants, type Participant, type TicketRecord } from './tickets.js';
import type { ParsedAddress } from '../mail/parsed-message.js';
import { listOutboxForTicket } from './outbox.js';

/** A message as shown on a ticket: headers and body, without raw bytes. */
export interface TicketMessageView {
  id: number;
  direction: string;
  messageId: string;
  from: ParsedAddress[];
  to: ParsedAddress[];
  cc: ParsedAddress[];
  subject: string;
  date: string | null;
  threadRule: string | null;
  autoSubmitted: boolean;
  bounce: boolean;
  parseError: string | null;
  text: string;
  html: string | null;
  attachments: Array<{ id: number; filename: string; contentType: string; size: number; contentId: string | null; inline: boolean; sha256: string }>;
}

/** Ticket fields that routing rules, agents and views set, beside the basic record. */
export interface TicketFieldsView {
  priority: string;
  stage: string | null;
  /** The owning user, or null. */
  owner: { userId: number; alias: string } | null;
  extraStatuses: string[];
  customFields: Record<string, unknown>;
}

/** One routing decision on the ticket: the rules that matched a message and what they changed. */
export interface RoutingTrailEntry {
  messageRowId: number | null;
  rules: Array<{ id: number; name: string; captures?: Record<string, string> }>;
  changes: Record<string, unknown>;
  skipped: string[];
  createdAt: string;
}

export interface TicketView {
  ticket: TicketRecord & TicketFieldsView & { queueNumber: number };
  participants: Participant[];
  messages: TicketMessageView[];
  events: Array<{ kind: string; data: unknown; createdAt: string }>;
  /** The `routing` events in order. */
  routing: RoutingTrailEntry[];
  /** Mail the queue sends or sent on this ticket, with its delivery state. */
  outbox: Array<{ id: number; kind: string; state: string; messageId: string; recipients: string[]; subject: string; attempts: number; failureReason: string | null; lastError: string | null; createdAt: string; sentAt: string | null }>;
}

export async function loadTicketView(db: Knex, number: number): Promise<TicketView | null> {
  const ticket = await findTicketByNumber(db, number);
  if (!ticket) return null;
  const queue: { number: number } = await db('queues').where({ id: ticket.queueId }).first('number');
  const rows: Array<Record<string, unknown> & { id: number }> = await db('messages')
    .where({ ticket_id: ticket.id })
    .orderBy('id')
    .select('id', 'direction', 'message_id', 'from', 'to', 'cc', 'subject', 'date', 'thread_rule', 'auto_submitted', 'bounce', 'parse_error', 'text', 'html');
  const attachments: Array<{ id: number; message_row_id: number; filename: string; content_type: string; size: number; content_id: string | null; inline: boolean; sha256: string }> = await db('attachments')
    .whereIn('message_row_id', rows.map((row) => row.id))
    .orderBy('id')
    .select('id', 'message_row_id', 'filename', 'content_type', 'size', 'content_id', 'inline', 'sha256');
  const events: Array<{ kind: string; data: unknown; message_row_id: number | null; created_at: Date }> = await db('ticket_events')
    .where({ ticket_id: ticket.id })
    .orderBy('id')
    .select('kind', 'data', 'message_row_id', 'created_at');
  const fields: { priority: string; stage: string | null; owner_user_id: number | null; extra_statuses: string[]; custom_fields: Record<string, unknown> } = await db('tickets')
    .where({ id: ticket.id })
    .first('priority', 'stage', 'owner_user_id', 'extra_statuses', 'custom_fields');
  const owner: { alias: string } | undefined = fields.owner_user_id === null ? undefined : await db('users').where({ id: fields.owner_user_id }).first('alias');

  return {
    ticket: {
      ...ticket,
      queueNumber: queue.number,
      priority: fields.priority,
      stage: fields.stage,
      owner: fields.owner_user_id !== null && owner ? { userId: fields.owner_user_id, alias: owner.alias } : null,
      extraStatuses: fields.extra_statuses,
      customFields: fields.custom_fields,
    },
    participants: await listParticipants(db, ticket.id),
    messages: rows.map((row) => ({
      id: row.id,
      direction: row.direction as string,
      messageId: row.message_id as string,
      from: row.from as ParsedAddress[],
      to: row.to as ParsedAddress[],
      cc: row.cc as ParsedAddress[],
      subject: row.subject as string,
      date: row.date instanceof Date ? row.date.toISOString() : null,
      threadRule: row.thread_rule as string | null,
      autoSubmitted: row.auto_submitted as boolean,
      bounce: row.bounce as boolean,
      parseError: row.parse_error as string | null,
      text: row.text as string,
      html: row.html as string | null,
      attachments: attachments
        .filter((attachment) => attachment.message_row_id === row.id)
        .map((attachment) => ({
          id: attachment.id,
          filename: attachment.filename,
          contentType: attachment.content_type,
          size: attachment.size,
          contentId: attachment.content_id,
          inline: attachment.inline,
          sha256: attachment.sha256,
        })),
    })),
    events: events.map((event) => ({ kind: event.kind, data: event.data, createdAt: event.created_at.toISOString() })),
    routing: events
      .filter((event) => event.kind === 'routing')
      .map((event) => {
        const data = event.data as { rules?: RoutingTrailEntry['rules']; changes?: Record<string, unknown>; skipped?: string[] };
        return { messageRowId: event.message_row_id, rules: data.rules ?? [], changes: data.changes ?? {}, skipped: data.skipped ?? [], createdAt: event.created_at.toISOString() };
      }),
    outbox: (await listOutboxForTicket(db, ticket.id)).map((row) => ({
      id: row.id,
      kind: row.kind,
      state: row.state,
      messageId: row.messageId,
      recipients: row.recipients,
      subject: row.subject,
      attempts: row.attempts,
      failureReason: row.failureReason,
      lastError: row.lastError,
      createdAt: row.createdAt,
      sentAt: row.sentAt,
    })),
  };
}

/** Messages kept but attached to no ticket: quarantined, duplicates, our own mail. */
export async function listUnthreadedMessages(db: Knex, queueId: number): Promise<Array<{ id: number; state: string; reason: string | null; subject: string; messageId: string; createdAt: string }>> {
  const rows: Array<{ id: number; state: string; state_reason: string | null; subject: string; message_id: string; created_at: Date }> = await db('messages')
    .where({ queue_id: queueId })
    .whereIn('state', ['held', 'duplicate', 'own'])
    .orderBy('id')
    .select('id', 'state', 'state_reason', 'subject', 'message_id', 'created_at');
  return rows.map((row) => ({ id: row.id, state: row.state, reason: row.state_reason, subject: row.subject, messageId: row.message_id, createdAt: row.created_at.toISOString() }));
}
