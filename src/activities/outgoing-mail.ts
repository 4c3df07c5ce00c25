import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { responseRecipient, type AutoresponseFacts } from '../domain/autoresponse-policy.js';
import { ownMessageId } from '../domain/outgoing-message-id.js';
import { normaliseAddress } from '../domain/text.js';
import type { AnsweredMessageRow } from '../db/messages.js';
import type { ParsedAddress } from '../mail/parsed-message.js';
import { formatTicketTag, replySubject } from '../domain/subject.js';
import { renderTemplate, type TemplateContext } from '../domain/templates.js';
import { insertOutboxRow } from '../db/outbox.js';
import type { SendingProfile } from '../db/sending-profile.js';
import { FailureType, MailqueueError } from '../errors.js';
import { composeMail, trimReferences, type OutgoingAttachment } from '../mail/compose.js';

type AddressFacts = Pick<AutoresponseFacts, 'fromAddress' | 'multipleFrom' | 'senderAddress' | 'replyToAddresses'>;

/** The customer message an outgoing mail replies to. */
export interface AnsweredMessage {
  rowId: number;
  messageId: string;
  messageIdSynthetic: boolean;
  references: string[];
}

export interface OutgoingDraft {
  kind: 'autoresponse' | 'reply';
  idempotencyKey: string;
  profile: SendingProfile;
  ticket: { id: number; number: number; title: string };
  recipient: { name: string; address: string };
  /** The agent writing, or null for an auto-response (sender info then speaks for the queue). */
  user: { id: number; alias: string; name: string; email: string } | null;
  subject: string;
  text: string;
  html: string | null;
  answered: AnsweredMessage | null;
  headers: Record<string, string>;
  attachments: OutgoingAttachment[];
  tagTemplate: string;
}

/** Returns the first address of an address list, lowercased, or null. */
export function firstAddress(list: ParsedAddress[]): string | null {
  const found = list.find((entry) => entry.address);
  return found?.address ? normaliseAddress(found.address) : null;
}

/** Returns the address facts of a stored message, lowercased, in the form the auto-response policy reads. */
export function addressFactsOf(row: AnsweredMessageRow): AddressFacts {
  return {
    fromAddress: firstAddress(row.from),
    multipleFrom: row.from.length > 1,
    senderAddress: row.sender?.address ? normaliseAddress(row.sender.address) : null,
    replyToAddresses: row.reply_to.flatMap((entry) => (entry.address ? [normaliseAddress(entry.address)] : [])),
  };
}

/** Picks where an answer to a stored message goes (see `responseRecipient`), with the display name the message gives that address. */
export function answerRecipient(row: AnsweredMessageRow): { name: string; address: string } | null {
  const address = responseRecipient(addressFactsOf(row));
  if (address === null) return null;
  const named = [...row.reply_to, ...(row.sender ? [row.sender] : []), ...row.from].find((entry) => entry.address && normaliseAddress(entry.address) === address);
  return { name: named?.name ?? '', address };
}

/** Renders the sender's display name: the sender-info template, else the queue title. */
export function renderSenderName(profile: SendingProfile, user: OutgoingDraft['user']): string {
  if (profile.senderInfo === null) return profile.queueTitle;
  const speaker = user ?? { alias: profile.queueTitle, name: profile.queueTitle, email: profile.senderAddress ?? '' };
  const context: TemplateContext = { user: { alias: speaker.alias, name: speaker.name, email: speaker.email }, queue: { title: profile.queueTitle, number: profile.queueNumber } };
  return renderTemplate('sender-info', profile.senderInfo, context, 'text') ?? profile.queueTitle;
}

/** Puts the ticket tag into a subject that lacks it. */
export function subjectWithTag(subject: string, ticket: { number: number; title: string }, tagTemplate: string): string {
  const tag = formatTicketTag(tagTemplate, ticket.number);
  if (subject.trim() === '') return replySubject(ticket.title, tag);
  return subject.includes(tag) ? subject : `${tag} ${subject}`;
}

/**
 * Composes the MIME bytes of an outgoing mail and writes its outbox row in the
 * caller's transaction, so the decision to send and the mail commit together. The
 * Message-ID is fixed here; every later attempt reuses it.
 */
export async function queueOutgoingMail(trx: Knex.Transaction, draft: OutgoingDraft): Promise<{ outboxId: number; created: boolean; messageId: string }> {
  const { profile } = draft;
  if (profile.senderAddress === null) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Queue ${profile.queueNumber} has no sender address: set senderAddress in its queue file`);
  }
  const messageId = ownMessageId(randomUUID(), profile.senderAddress);
  const subject = subjectWithTag(draft.subject, draft.ticket, draft.tagTemplate);
  const answered = draft.answered;
  // A synthetic Message-ID exists only in our database; quoting it would thread nothing.
  const inReplyTo = answered && !answered.messageIdSynthetic ? answered.messageId : null;
  const references = answered && !answered.messageIdSynthetic ? trimReferences([...answered.references, answered.messageId]) : [];

  const raw = await composeMail({
    messageId,
    from: { name: renderSenderName(profile, draft.user), address: profile.senderAddress },
    to: [{ name: draft.recipient.name, address: draft.recipient.address }],
    replyTo: profile.replyTo ? { address: profile.replyTo } : null,
    subject,
    text: draft.text,
    html: draft.html,
    inReplyTo,
    references,
    headers: { 'X-Mailqueue-Ticket': String(draft.ticket.number), ...draft.headers },
    attachments: draft.attachments,
    date: new Date(),
  });

  const row = await insertOutboxRow(trx, {
    queueId: profile.queueId,
    ticketId: draft.ticket.id,
    kind: draft.kind,
    idempotencyKey: draft.idempotencyKey,
    messageId,
    envelopeFrom: profile.senderAddress,
    recipients: [draft.recipient.address],
    subject,
    raw,
    userId: draft.user?.id ?? null,
    inReplyToMessageRowId: answered?.rowId ?? null,
  });
  if (!row.created) {
    const existing: { message_id: string } = await trx('outbox').where({ id: row.id }).first('message_id');
    return { outboxId: row.id, created: false, messageId: existing.message_id };
  }
  return { outboxId: row.id, created: true, messageId };
}
