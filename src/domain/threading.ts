/**
 * The threading decision: does an incoming message continue an existing ticket?
 * Pure: the activity looks up the ids from `threadingKeys` and the tagged tickets,
 * then calls `decideThreading`.
 */

import { normaliseAddress } from './text.js';

/** Fields of one incoming message that threading reads. */
export interface ThreadingInput {
  /** Message-IDs from In-Reply-To, without angle brackets, in header order. */
  inReplyTo: string[];
  /** Message-IDs from References, without angle brackets, oldest first as in the header. */
  references: string[];
  /** This message's own Message-ID, without angle brackets. */
  ownMessageId: string;
  subject: string;
  /** Lowercased addresses from From, Sender and Reply-To. */
  senderAddresses: string[];
}

/** A ticket whose number appears as a tag in the subject. */
export interface TaggedTicket {
  ticketId: number;
  /** The ticket number shown in the tag, e.g. 100001. */
  number: number;
  /** Addresses that took part in the ticket (requester, Cc'd people, agents). */
  participants: string[];
}

/** Outcome of threading, with the rule that decided it (stored for support and tests). */
export type ThreadingDecision =
  | { kind: 'reply'; ticketId: number; rule: 'in-reply-to' | 'references' | 'subject-tag' }
  | { kind: 'new'; rule: 'no-match' | 'tag-sender-not-participant' };

/** Compares ids in the form the parser stores them: trimmed, without angle brackets. */
function bareMessageId(id: string): string {
  const trimmed = id.trim();
  return trimmed.startsWith('<') && trimmed.endsWith('>') ? trimmed.slice(1, -1).trim() : trimmed;
}

/** Returns `ids` made bare, without empties, without the message's own id, de-duplicated. */
function candidateIds(ids: string[], ownMessageId: string): string[] {
  const own = bareMessageId(ownMessageId);
  const result: string[] = [];

  for (const id of ids.map(bareMessageId)) {
    if (id === '' || id === own || result.includes(id)) continue;
    result.push(id);
  }

  return result;
}

/**
 * Returns the Message-IDs to look up, in the order `decideThreading` tries them:
 * In-Reply-To first, then References from newest (last) to oldest. The message's own
 * Message-ID is left out, because a sender that reuses Message-IDs must not thread a
 * message into the ticket its earlier namesake created. The activity can query all of
 * them in one round trip.
 */
export function threadingKeys(input: Pick<ThreadingInput, 'inReplyTo' | 'references' | 'ownMessageId'>): string[] {
  const newestFirst = [...input.inReplyTo, ...[...input.references].reverse()];
  return candidateIds(newestFirst, input.ownMessageId);
}

/** Position of a ticket number in the subject as a whole digit run, or Infinity when absent. */
function positionInSubject(subject: string, number: number): number {
  const match = new RegExp(String.raw`(?<!\d)${number}(?!\d)`).exec(subject);
  return match === null ? Number.POSITIVE_INFINITY : match.index;
}

/**
 * Decides whether a message is a reply to an existing ticket.
 *
 * Rules, first match wins:
 * 1. an In-Reply-To id that `knownMessageTickets` maps to a ticket (`in-reply-to`);
 * 2. a References id, newest first (`references`);
 * 3. a ticket tag in the subject, but only when one of `senderAddresses` is a participant
 *    of that ticket (`subject-tag`), because a tag alone is guessable and would let a
 *    stranger append to someone else's ticket.
 * Otherwise the message opens a new ticket: `tag-sender-not-participant` when a tag was
 * present but the sender is not on that ticket, else `no-match`.
 *
 * @param knownMessageTickets Message-ID (bare) to ticket id, for ids stored or sent on any ticket of this queue.
 * @param taggedTickets tickets whose number appears in the subject; when several match, the tag that comes first in the subject wins.
 */
export function decideThreading(
  input: ThreadingInput,
  knownMessageTickets: ReadonlyMap<string, number>,
  taggedTickets: readonly TaggedTicket[],
): ThreadingDecision {
  const ownMessageId = input.ownMessageId;

  for (const id of candidateIds(input.inReplyTo, ownMessageId)) {
    const ticketId = knownMessageTickets.get(id);
    if (ticketId !== undefined) return { kind: 'reply', ticketId, rule: 'in-reply-to' };
  }

  for (const id of candidateIds([...input.references].reverse(), ownMessageId)) {
    const ticketId = knownMessageTickets.get(id);
    if (ticketId !== undefined) return { kind: 'reply', ticketId, rule: 'references' };
  }

  if (taggedTickets.length === 0) return { kind: 'new', rule: 'no-match' };

  const senders = new Set(input.senderAddresses.map(normaliseAddress).filter((address) => address !== ''));
  const inSubjectOrder = [...taggedTickets].sort((a, b) => {
    const difference = positionInSubject(input.subject, a.number) - positionInSubject(input.subject, b.number);
    return Number.isNaN(difference) ? 0 : difference;
  });

  for (const ticket of inSubjectOrder) {
    const isParticipant = ticket.participants.some((participant) => senders.has(normaliseAddress(participant)));
    if (isParticipant) return { kind: 'reply', ticketId: ticket.ticketId, rule: 'subject-tag' };
  }

  return { kind: 'new', rule: 'tag-sender-not-participant' };
}
