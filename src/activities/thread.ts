import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { findTicketNumbers, ticketTitleFromSubject } from '../domain/subject.js';
import { decideThreading, threadingKeys, type TaggedTicket } from '../domain/threading.js';
import { normaliseAddress } from '../domain/text.js';
import { readInstallationSettings, type InstallationSettings } from '../db/settings.js';
import { addParticipants, addTicketEvent, allocateTicketNumber, insertTicket, type Participant } from '../db/tickets.js';
import { getQueueById, type QueueRecord } from '../db/queues.js';
import { loadOwnAddresses } from '../db/sending-profile.js';
import type { BounceReport, ParsedAddress } from '../mail/parsed-message.js';

/** Counts from one threading pass; the workflow adds them to its status counters. */
export interface ThreadResult {
  newTickets: number;
  replies: number;
  /** Our own outgoing mail that came back in (a Sent folder, a Bcc to ourselves). */
  ownMessages: number;
  /** The same mail already taken in through another queue's mailbox. */
  crossQueueDuplicates: number;
  /** Quarantined: kept and visible, attached to no ticket (e.g. a bounce for unknown mail). */
  held: number;
  /** More pending messages remain after this pass. */
  more: boolean;
}

interface PendingMessageRow {
  id: number;
  queue_id: number;
  message_id: string;
  content_hash: string;
  in_reply_to: string[];
  references: string[];
  from: ParsedAddress[];
  sender: ParsedAddress | null;
  to: ParsedAddress[];
  cc: ParsedAddress[];
  reply_to: ParsedAddress[];
  return_path: string | null;
  subject: string;
  auto_submitted: boolean;
  bounce: boolean;
  bounce_report: BounceReport | null;
  parse_error: string | null;
}

/** Messages threaded per activity call; the workflow calls again while `more` is true. */
const THREAD_BATCH_SIZE = 200;

type Placement =
  | { state: 'threaded'; ticketId: number; rule: string; created: boolean }
  | { state: 'own' | 'duplicate' | 'held'; reason: string; duplicateOf?: number };

function addresses(list: ParsedAddress[]): string[] {
  return list.flatMap((entry) => (entry.address ? [normaliseAddress(entry.address)] : []));
}

/** Picks the requester: Sender when From lists several mailboxes, else the first From address, else the envelope sender. */
function chooseRequester(message: PendingMessageRow): { address: string | null; name: string; flag: string | null } {
  const fromWithAddress = message.from.filter((entry) => entry.address);
  if (message.from.length > 1 && message.sender?.address) {
    return { address: normaliseAddress(message.sender.address), name: message.sender.name, flag: null };
  }
  if (fromWithAddress.length > 0) {
    const first = fromWithAddress[0];
    return { address: normaliseAddress(first.address ?? ''), name: first.name, flag: null };
  }
  const displayName = message.from[0]?.name ?? '';
  if (message.return_path) {
    return { address: normaliseAddress(message.return_path), name: displayName, flag: 'from-without-address:return-path-used' };
  }
  return { address: null, name: displayName, flag: 'from-without-address' };
}

function participantsOf(message: PendingMessageRow, ownAddresses: Set<string>, requester: string | null): Participant[] {
  const result: Participant[] = [];
  const add = (entries: ParsedAddress[], role: Participant['role']): void => {
    for (const entry of entries) {
      if (!entry.address) continue;
      const address = normaliseAddress(entry.address);
      if (ownAddresses.has(address) || address === requester) continue;
      result.push({ address, name: entry.name, role });
    }
  };
  add(message.from, 'participant');
  add(message.sender ? [message.sender] : [], 'participant');
  add(message.reply_to, 'participant');
  add(message.to, 'participant');
  add(message.cc, 'cc');
  return result;
}

async function findTaggedTickets(trx: Knex.Transaction, queueId: number, subject: string, settings: InstallationSettings): Promise<TaggedTicket[]> {
  const numbers = findTicketNumbers(subject, settings.ticketTagTemplate);
  if (numbers.length === 0) return [];
  const tickets: Array<{ id: number; number: number }> = await trx('tickets').where({ queue_id: queueId }).whereIn('number', numbers).select('id', 'number');
  const result: TaggedTicket[] = [];
  for (const ticket of tickets) {
    const participants: Array<{ address: string }> = await trx('ticket_participants').where({ ticket_id: ticket.id }).select('address');
    result.push({ ticketId: ticket.id, number: ticket.number, participants: participants.map((row) => row.address) });
  }
  return result;
}

async function lookupKnownMessageTickets(trx: Knex.Transaction, queueId: number, ids: string[], excludeRowId: number): Promise<Map<string, number>> {
  const map = new Map<string, number>();
  if (ids.length === 0) return map;
  const rows: Array<{ message_id: string; ticket_id: number }> = await trx('messages')
    .where({ queue_id: queueId })
    .whereIn('message_id', ids)
    .whereNotNull('ticket_id')
    .whereNot('id', excludeRowId)
    .orderBy('id')
    .select('message_id', 'ticket_id');
  for (const row of rows) {
    if (!map.has(row.message_id)) map.set(row.message_id, row.ticket_id);
  }
  return map;
}

/** Decides where one pending message goes and writes it, in the caller's transaction. */
async function placeMessage(
  trx: Knex.Transaction,
  queue: QueueRecord,
  message: PendingMessageRow,
  settings: InstallationSettings,
  ownAddresses: Set<string>,
): Promise<Placement> {
  // Our own outgoing mail, back through the mailbox: never a customer message.
  const sentByUs = await trx('messages').where({ message_id: message.message_id, direction: 'outgoing' }).first('id');
  const fromAddresses = addresses(message.from);
  if (sentByUs) {
    return { state: 'own', reason: 'message-id-sent-by-us' };
  }

  // The same mail reached another queue's mailbox first (To one address, Cc another).
  const elsewhere: { id: number; ticket_id: number | null } | undefined = await trx('messages')
    .where({ message_id: message.message_id, content_hash: message.content_hash, direction: 'incoming' })
    .whereNot('queue_id', queue.id)
    .whereIn('state', ['threaded', 'held'])
    .orderBy('id')
    .first('id', 'ticket_id');
  if (elsewhere) {
    if (elsewhere.ticket_id !== null && queue.incoming.user.includes('@')) {
      await addParticipants(trx, elsewhere.ticket_id, [{ address: normaliseAddress(queue.incoming.user), name: queue.title, role: 'recipient' }]);
    }
    return { state: 'duplicate', reason: 'same-mail-in-another-queue', duplicateOf: elsewhere.id };
  }

  if (message.bounce) {
    return placeBounce(trx, queue, message);
  }

  const decision = decideThreading(
    {
      inReplyTo: message.in_reply_to,
      references: message.references,
      ownMessageId: message.message_id,
      subject: message.subject,
      senderAddresses: [...fromAddresses, ...addresses(message.sender ? [message.sender] : []), ...addresses(message.reply_to)],
    },
    await lookupKnownMessageTickets(trx, queue.id, threadingKeys({ inReplyTo: message.in_reply_to, references: message.references, ownMessageId: message.message_id }), message.id),
    await findTaggedTickets(trx, queue.id, message.subject, settings),
  );

  if (decision.kind === 'reply') {
    const senderParticipants = participantsOf(message, ownAddresses, null);
    await addParticipants(trx, decision.ticketId, senderParticipants);
    // Automatic mail (out-of-office and the like) is kept on the ticket but is not customer activity.
    if (!message.auto_submitted) {
      await trx('tickets').where({ id: decision.ticketId }).update({ updated_at: trx.fn.now(), last_activity_at: trx.fn.now() });
    }
    return { state: 'threaded', ticketId: decision.ticketId, rule: decision.rule, created: false };
  }

  const requester = chooseRequester(message);
  const number = await allocateTicketNumber(trx, settings.firstTicketNumber);
  const ticketId = await insertTicket(trx, {
    number,
    queueId: queue.id,
    title: ticketTitleFromSubject(message.subject, settings.ticketTagTemplate),
    category: queue.category,
    requesterAddress: requester.address,
    requesterName: requester.name,
    requesterFlag: requester.flag,
  });
  const participants: Participant[] = requester.address ? [{ address: requester.address, name: requester.name, role: 'requester' }] : [];
  await addParticipants(trx, ticketId, [...participants, ...participantsOf(message, ownAddresses, requester.address)]);
  return { state: 'threaded', ticketId, rule: decision.rule === 'no-match' ? 'new' : `new:${decision.rule}`, created: true };
}

/** Attaches a delivery report to the ticket of the mail it reports on, as a delivery-failure event; it never opens a ticket. */
async function placeBounce(trx: Knex.Transaction, queue: QueueRecord, message: PendingMessageRow): Promise<Placement> {
  const reported = message.bounce_report?.originalMessageIds ?? [];
  const candidates = [...reported, ...message.in_reply_to, ...[...message.references].reverse()];
  const known = await lookupKnownMessageTickets(trx, queue.id, candidates, message.id);
  const ticketId = candidates.map((id) => known.get(id)).find((id) => id !== undefined);
  if (ticketId === undefined) {
    return { state: 'held', reason: 'bounce-for-unknown-message' };
  }
  await addTicketEvent(trx, {
    ticketId,
    messageRowId: message.id,
    kind: 'delivery-failure',
    data: { recipients: message.bounce_report?.recipients ?? [], originalMessageIds: reported },
  });
  return { state: 'threaded', ticketId, rule: 'bounce', created: false };
}

/**
 * Threads the queue's pending messages in arrival order, each in its own transaction
 * under a per-queue advisory lock, so a retry, a crash or a concurrent import changes
 * nothing that committed.
 */
export async function threadPendingMessages(db: Knex, queueId: number, logger: Logger): Promise<ThreadResult> {
  const queue = await getQueueById(db, queueId);
  const settings = await readInstallationSettings(db);
  const ownAddresses = await loadOwnAddresses(db);
  const log = logger.child({ queueId, queueNumber: queue.number });
  const result: ThreadResult = { newTickets: 0, replies: 0, ownMessages: 0, crossQueueDuplicates: 0, held: 0, more: false };

  const pendingIds: Array<{ id: number }> = await db('messages')
    .where({ queue_id: queueId, state: 'pending', direction: 'incoming' })
    .orderBy('id')
    .limit(THREAD_BATCH_SIZE + 1)
    .select('id');
  result.more = pendingIds.length > THREAD_BATCH_SIZE;

  for (const { id } of pendingIds.slice(0, THREAD_BATCH_SIZE)) {
    const placement = await db.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [`mailqueue:thread:${queueId}`]);
      const message: PendingMessageRow | undefined = await trx('messages').where({ id, state: 'pending' }).first();
      if (!message) return null;
      // Two queues threading copies of one mail at once would both open a ticket. This
      // lock makes the second wait, so it then finds the first copy.
      await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [`mailqueue:message-id:${message.message_id}`]);

      const outcome = await placeMessage(trx, queue, message, settings, ownAddresses);
      if (outcome.state === 'threaded') {
        await trx('messages').where({ id }).update({ state: 'threaded', ticket_id: outcome.ticketId, thread_rule: outcome.rule });
      } else {
        await trx('messages').where({ id }).update({ state: outcome.state, state_reason: outcome.reason, duplicate_of: outcome.duplicateOf ?? null });
      }
      return outcome;
    });
    if (placement === null) continue;

    if (placement.state === 'threaded') {
      if (placement.created) result.newTickets += 1;
      else result.replies += 1;
      log.info({ messageRowId: id, ticketId: placement.ticketId, rule: placement.rule }, 'message threaded');
    } else {
      if (placement.state === 'own') result.ownMessages += 1;
      if (placement.state === 'duplicate') result.crossQueueDuplicates += 1;
      if (placement.state === 'held') result.held += 1;
      log.info({ messageRowId: id, state: placement.state, reason: placement.reason }, 'message not threaded');
    }
  }
  return result;
}
