import type { Knex } from 'knex';

export interface TicketRecord {
  id: number;
  number: number;
  queueId: number;
  title: string;
  category: string | null;
  status: string;
  requesterAddress: string | null;
  requesterName: string;
  requesterFlag: string | null;
  createdAt: string;
  updatedAt: string;
  lastActivityAt: string;
}

export interface TicketRow {
  id: number;
  number: number;
  queue_id: number;
  title: string;
  category: string | null;
  status: string;
  requester_address: string | null;
  requester_name: string;
  requester_flag: string | null;
  created_at: Date;
  updated_at: Date;
  last_activity_at: Date;
}

export function toTicketRecord(row: TicketRow): TicketRecord {
  return {
    id: row.id,
    number: row.number,
    queueId: row.queue_id,
    title: row.title,
    category: row.category,
    status: row.status,
    requesterAddress: row.requester_address,
    requesterName: row.requester_name,
    requesterFlag: row.requester_flag,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    lastActivityAt: row.last_activity_at.toISOString(),
  };
}

export interface Participant {
  address: string;
  name: string;
  role: 'requester' | 'cc' | 'participant' | 'recipient';
}

/**
 * Allocates the next ticket number: one more than the highest so far, or the
 * configured first number. The advisory lock serialises allocation across queues.
 */
export async function allocateTicketNumber(trx: Knex.Transaction, firstTicketNumber: number): Promise<number> {
  await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', ['mailqueue:ticket-number']);
  const row = await trx('tickets').max<{ max: number | null }>('number as max').first();
  return Math.max((row?.max ?? 0) + 1, firstTicketNumber);
}

export async function insertTicket(
  trx: Knex.Transaction,
  ticket: { number: number; queueId: number; title: string; category: string | null; requesterAddress: string | null; requesterName: string; requesterFlag: string | null },
): Promise<number> {
  const [row] = await trx('tickets')
    .insert({
      number: ticket.number,
      queue_id: ticket.queueId,
      title: ticket.title,
      category: ticket.category,
      requester_address: ticket.requesterAddress,
      requester_name: ticket.requesterName,
      requester_flag: ticket.requesterFlag,
    })
    .returning<Array<{ id: number }>>('id');
  return row.id;
}

/** Adds participants; an address already on the ticket keeps its first role. */
export async function addParticipants(trx: Knex.Transaction, ticketId: number, participants: Participant[]): Promise<void> {
  for (const participant of participants) {
    await trx('ticket_participants')
      .insert({ ticket_id: ticketId, address: participant.address, name: participant.name, role: participant.role })
      .onConflict(['ticket_id', 'address'])
      .ignore();
  }
}

export async function listParticipants(db: Knex, ticketId: number): Promise<Participant[]> {
  return db('ticket_participants').where({ ticket_id: ticketId }).orderBy(['role', 'address']).select('address', 'name', 'role');
}

export async function findTicketByNumber(db: Knex, number: number): Promise<TicketRecord | null> {
  const row: TicketRow | undefined = await db('tickets').where({ number }).first();
  return row ? toTicketRecord(row) : null;
}

export async function listTickets(db: Knex, options: { queueId?: number; limit?: number } = {}): Promise<TicketRecord[]> {
  const query = db('tickets').orderBy('number', 'desc').limit(options.limit ?? 50);
  if (options.queueId !== undefined) {
    query.where({ queue_id: options.queueId });
  }
  const rows: TicketRow[] = await query.select('*');
  return rows.map(toTicketRecord);
}

export async function addTicketEvent(trx: Knex.Transaction, event: { ticketId: number; messageRowId: number | null; kind: string; data: Record<string, unknown> }): Promise<void> {
  await trx('ticket_events').insert({ ticket_id: event.ticketId, message_row_id: event.messageRowId, kind: event.kind, data: JSON.stringify(event.data) });
}
