import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { formatTicketTag, replySubject } from '../domain/subject.js';
import { renderTemplate, type TemplateContext } from '../domain/templates.js';
import { getQueueById } from '../db/queues.js';
import { loadSendingProfile, type SendingProfile, type StoredTemplate } from '../db/sending-profile.js';
import { readInstallationSettings } from '../db/settings.js';
import { addTicketEvent, findTicketByNumber } from '../db/tickets.js';
import { findUserByAlias } from '../db/users.js';
import { FailureType, MailqueueError } from '../errors.js';
import type { OutgoingAttachment } from '../mail/compose.js';
import type { AnsweredMessageRow } from '../db/messages.js';
import { answerRecipient, queueOutgoingMail } from './outgoing-mail.js';

export interface AgentReplyInput {
  ticketNumber: number;
  userAlias: string;
  text: string;
  html: string | null;
  attachments: OutgoingAttachment[];
  /** Makes a repeated request create no second mail; a fresh one is generated when omitted. */
  idempotencyKey?: string;
}

function renderBlock(template: StoredTemplate | null, kind: 'signature' | 'nps-survey', context: TemplateContext, part: 'text' | 'html'): string | null {
  if (template === null) return null;
  return renderTemplate(kind, template, context, part);
}

/** Joins the reply body with the signature and survey blocks, separated by blank lines (text) or line breaks (HTML). */
function assemble(body: string, blocks: Array<string | null>, separator: string): string {
  return [body, ...blocks.filter((block): block is string => block !== null && block.trim() !== '')].join(separator);
}

/**
 * Composes an agent's reply on a ticket through the ticket's queue (sender info for
 * that agent, sender address, Reply-To, signature, survey block, threading headers to
 * the last customer message, ticket tag) and writes it to the outbox. Delivery is
 * the outbox delivery workflow's job.
 */
export async function composeAgentReply(db: Knex, input: AgentReplyInput, logger: Logger): Promise<{ outboxId: number; messageId: string; recipient: string; created: boolean }> {
  const ticket = await findTicketByNumber(db, input.ticketNumber);
  if (ticket === null) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Ticket ${input.ticketNumber} does not exist: run \`mailqueue tickets list\``);
  }
  const user = await findUserByAlias(db, input.userAlias);
  if (user === null) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `User "${input.userAlias}" does not exist: create it with \`mailqueue users create --alias ${input.userAlias} --email ADDRESS\``);
  }
  const queue = await getQueueById(db, ticket.queueId);
  const profile: SendingProfile = await loadSendingProfile(db, queue.id);
  if (!profile.hasOutgoingServer) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Queue ${queue.number} has no outgoing server: add "outgoing" to its queue file and run \`mailqueue queue update ${queue.number} --file FILE\``);
  }
  const settings = await readInstallationSettings(db);

  const last: AnsweredMessageRow | undefined = await db('messages')
    .where({ ticket_id: ticket.id, direction: 'incoming', state: 'threaded', auto_submitted: false, bounce: false })
    .orderBy('id', 'desc')
    .first('id', 'message_id', 'message_id_synthetic', 'references', 'from', 'sender', 'reply_to');
  // The last customer message decides where the reply goes; the requester is the fallback.
  const recipient = (last ? answerRecipient(last) : null) ?? (ticket.requesterAddress ? { name: '', address: ticket.requesterAddress } : null);
  if (recipient === null) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Ticket ${ticket.number} has no customer address to reply to`);
  }

  const context: TemplateContext = {
    user: { alias: user.alias, name: user.name, email: user.email },
    queue: { title: profile.queueTitle, number: profile.queueNumber },
    ticket: { number: ticket.number, title: ticket.title },
    customer: { name: recipient.name, email: recipient.address },
  };
  const text = assemble(input.text.trimEnd(), [renderBlock(profile.signature, 'signature', context, 'text'), renderBlock(profile.npsSurvey, 'nps-survey', context, 'text')], '\n\n');
  const html =
    input.html === null
      ? null
      : assemble(input.html, [renderBlock(profile.signature, 'signature', context, 'html'), renderBlock(profile.npsSurvey, 'nps-survey', context, 'html')], '\n<br>\n');

  const queued = await db.transaction(async (trx) => {
    const result = await queueOutgoingMail(trx, {
      kind: 'reply',
      idempotencyKey: input.idempotencyKey ?? `reply:${randomUUID()}`,
      profile,
      ticket: { id: ticket.id, number: ticket.number, title: ticket.title },
      recipient,
      user: { id: user.id, alias: user.alias, name: user.name, email: user.email },
      subject: replySubject(ticket.title, formatTicketTag(settings.ticketTagTemplate, ticket.number)),
      text,
      html,
      answered: last ? { rowId: last.id, messageId: last.message_id, messageIdSynthetic: last.message_id_synthetic, references: last.references } : null,
      headers: {},
      attachments: input.attachments,
      tagTemplate: settings.ticketTagTemplate,
    });
    if (result.created) {
      await addTicketEvent(trx, { ticketId: ticket.id, messageRowId: null, kind: 'reply-queued', data: { outboxId: result.outboxId, user: user.alias, recipient: recipient.address } });
    }
    return result;
  });
  logger.info({ ticketId: ticket.id, outboxId: queued.outboxId, user: user.alias }, 'agent reply queued');
  return { outboxId: queued.outboxId, messageId: queued.messageId, recipient: recipient.address, created: queued.created };
}
