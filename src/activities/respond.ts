import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { decideAutoresponse, responseRecipient } from '../domain/autoresponse-policy.js';
import { looksLikeOwnMessageId } from '../domain/outgoing-message-id.js';
import { renderTemplate, type TemplateContext } from '../domain/templates.js';
import { autoresponseTimesTo } from '../db/outbox.js';
import { loadOwnAddresses, loadSendingProfile, type SendingProfile } from '../db/sending-profile.js';
import { readInstallationSettings } from '../db/settings.js';
import { addTicketEvent } from '../db/tickets.js';
import type { AnsweredMessageRow } from '../db/messages.js';
import { addressFactsOf, answerRecipient, queueOutgoingMail } from './outgoing-mail.js';

export interface RespondResult {
  queued: number;
  skipped: number;
  /** More messages wait for a decision beyond this batch. */
  more: boolean;
}

interface FirstMessageRow extends AnsweredMessageRow {
  ticket_id: number;
  auto_submitted: boolean;
  bounce: boolean;
  list: boolean;
  automation_reasons: string[];
  imported: boolean;
}

/** Messages decided per activity call. */
const RESPOND_BATCH_SIZE = 200;

/** Domains our own Message-IDs use: the sender addresses' domains. */
async function ownMessageIdDomains(db: Knex): Promise<Set<string>> {
  const rows: Array<{ sender_address: string | null }> = await db('queues').whereNotNull('sender_address').select('sender_address');
  return new Set(rows.map((row) => (row.sender_address ?? '').split('@').pop()?.toLowerCase() ?? '').filter((domain) => domain !== ''));
}

/**
 * Decides the auto-response for every message that opened a new ticket and has no
 * decision yet. Each decision (an outbox row, or a skip with its reason as a ticket
 * event) commits in one transaction with the message's `autoresponse_decided_at`,
 * so a retry never decides twice.
 *
 * @param open working hours state from the workflow: false closed, null no time group.
 */
export async function decideAutoresponses(db: Knex, queueId: number, open: boolean | null, logger: Logger): Promise<RespondResult> {
  const profile: SendingProfile = await loadSendingProfile(db, queueId);
  const settings = await readInstallationSettings(db);
  const ownAddresses = await loadOwnAddresses(db);
  const ownDomains = await ownMessageIdDomains(db);
  const log = logger.child({ queueId, queueNumber: profile.queueNumber });
  const result: RespondResult = { queued: 0, skipped: 0, more: false };

  const candidates: Array<{ id: number }> = await db('messages')
    .where({ queue_id: queueId, direction: 'incoming', state: 'threaded' })
    .where('thread_rule', 'like', 'new%')
    .whereNull('autoresponse_decided_at')
    .orderBy('id')
    .limit(RESPOND_BATCH_SIZE + 1)
    .select('id');
  result.more = candidates.length > RESPOND_BATCH_SIZE;

  for (const { id } of candidates.slice(0, RESPOND_BATCH_SIZE)) {
    await db.transaction(async (trx) => {
      const message: FirstMessageRow | undefined = await trx('messages').where({ id }).whereNull('autoresponse_decided_at').forUpdate().first();
      if (!message) return;
      const ticket: { id: number; number: number; title: string } = await trx('tickets').where({ id: message.ticket_id }).first('id', 'number', 'title');

      const addressFacts = addressFactsOf(message);
      const recipient = responseRecipient(addressFacts);
      const since = Date.now() - profile.rateLimit.windowSeconds * 1000;
      const sentByUs = await trx('outbox').where({ message_id: message.message_id }).first('id');
      const decision = decideAutoresponse({
        ...addressFacts,
        live: !message.imported,
        hasTemplate: profile.autoresponse !== null,
        hasOutgoingServer: profile.hasOutgoingServer && profile.senderAddress !== null,
        open,
        automation: { autoSubmitted: message.auto_submitted, bounce: message.bounce, list: message.list, reasons: message.automation_reasons },
        messageIdIsOurs: sentByUs !== undefined || looksLikeOwnMessageId(message.message_id, ownDomains),
        ownAddresses,
        exceptionPatterns: profile.exceptionPatterns,
        rateLimit: profile.rateLimit,
        previousSendTimesMs: recipient === null ? [] : await autoresponseTimesTo(trx, recipient, since),
        nowMs: Date.now(),
      });

      if (decision.send) {
        const template = profile.autoresponse;
        if (template === null) return;
        const recipientName = answerRecipient(message)?.name ?? '';
        const context: TemplateContext = {
          ticket: { number: ticket.number, title: ticket.title },
          customer: { name: recipientName, email: decision.recipient },
          queue: { title: profile.queueTitle, number: profile.queueNumber },
        };
        const queued = await queueOutgoingMail(trx, {
          kind: 'autoresponse',
          idempotencyKey: `autoresponse:${message.id}`,
          profile,
          ticket,
          recipient: { name: recipientName, address: decision.recipient },
          user: null,
          subject: renderTemplate('autoresponse', template, context, 'subject') ?? '',
          text: renderTemplate('autoresponse', template, context, 'text') ?? '',
          html: renderTemplate('autoresponse', template, context, 'html'),
          answered: { rowId: message.id, messageId: message.message_id, messageIdSynthetic: message.message_id_synthetic, references: message.references },
          headers: { 'Auto-Submitted': 'auto-replied', 'X-Auto-Response-Suppress': 'All', Precedence: 'auto_reply' },
          attachments: [],
          tagTemplate: settings.ticketTagTemplate,
        });
        await trx('messages').where({ id }).update({ autoresponse_decided_at: trx.fn.now() });
        await addTicketEvent(trx, { ticketId: ticket.id, messageRowId: id, kind: 'autoresponse-queued', data: { outboxId: queued.outboxId, recipient: decision.recipient } });
        result.queued += 1;
        log.info({ messageRowId: id, ticketId: ticket.id, outboxId: queued.outboxId }, 'auto-response queued');
        return;
      }

      await recordSkip(trx, message, decision.reason);
      result.skipped += 1;
      log.info({ messageRowId: id, ticketId: ticket.id, reason: decision.reason }, 'auto-response skipped');
    });
  }
  return result;
}

async function recordSkip(trx: Knex.Transaction, message: FirstMessageRow, reason: string): Promise<void> {
  await trx('messages').where({ id: message.id }).update({ autoresponse_decided_at: trx.fn.now() });
  await addTicketEvent(trx, { ticketId: message.ticket_id, messageRowId: message.id, kind: 'autoresponse-skipped', data: { reason } });
}
