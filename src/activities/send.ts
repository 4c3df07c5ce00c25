import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { findOutbox, lockOutbox, updateOutbox, type OutboxRecord } from '../db/outbox.js';
import { findQueueById } from '../db/queues.js';
import { loadSendingProfile } from '../db/sending-profile.js';
import { addTicketEvent } from '../db/tickets.js';
import { FailureType, MailqueueError } from '../errors.js';
import { parseMessage } from '../mail/parse.js';
import { offersSentMailLookup } from '../mail/sent-lookup.js';
import type { SmtpConnectionSettings, SmtpSendResult } from '../mail/smtp.js';
import { extractMessageIds } from '../domain/message-ids.js';
import { ingestRawMessage } from './ingest.js';
import { openOutgoingTransport } from './transports.js';

export interface SendDependencies {
  db: Knex;
  secretKey: () => Buffer;
  logger: Logger;
  sendRawMail: (settings: SmtpConnectionSettings, envelope: { from: string; to: string[] }, raw: Buffer, logger: Logger) => Promise<SmtpSendResult>;
}

export type SendOutcome = { state: 'sent'; alreadySent: boolean } | { state: 'failed'; reason: string };

/** Delivery route of an outbox row: directly over SMTP, or through the queue's postprocessing event. */
export type OutboxRoute =
  | { mode: 'done'; state: string }
  | { mode: 'direct' }
  | { mode: 'event'; workflowType: string; taskQueue: string; timeoutSeconds: number };

/** Failure types after which the row is failed instead of retried: only an operator can fix them. */
const permanentTypes = new Set<string>([
  FailureType.PermanentDeliveryFailure,
  FailureType.AuthenticationFailed,
  FailureType.CertificateRejected,
  FailureType.InvalidConfiguration,
  FailureType.SecretKeyInvalid,
]);

async function markFailed(deps: SendDependencies, row: OutboxRecord, reason: string): Promise<SendOutcome> {
  await deps.db.transaction(async (trx) => {
    await trx('outbox').where({ id: row.id }).update({ state: 'failed', failure_reason: reason });
    if (row.ticketId !== null) {
      await addTicketEvent(trx, { ticketId: row.ticketId, messageRowId: null, kind: 'outgoing-mail-failed', data: { outboxId: row.id, reason } });
    }
  });
  deps.logger.warn({ outboxId: row.id, queueId: row.queueId, ticketId: row.ticketId, reason }, 'outgoing mail failed');
  return { state: 'failed', reason };
}

/** Stores the sent mail as an outgoing message on its ticket (idempotent by source key) and marks the row sent. */
async function recordSent(deps: SendDependencies, row: OutboxRecord, raw: Buffer): Promise<void> {
  const queue = await findQueueById(deps.db, row.queueId);
  await ingestRawMessage(
    deps.db,
    raw,
    { queueId: row.queueId, sourceKey: `outbox:${row.id}`, maxMessageBytes: queue.maxMessageBytes, imported: false, direction: 'outgoing', ticketId: row.ticketId ?? undefined },
    deps.logger,
  );
  await deps.db('outbox').where({ id: row.id }).update({ state: 'sent', sent_at: deps.db.fn.now(), last_error: null });
}

/**
 * Checks whether the provider's sent mail contains the row's Message-ID, through the queue's transport.
 * Returns false when the transport has no lookup, when the message is not found, and when opening
 * the transport or the lookup fails (logged), so the caller then acts as if there were no lookup.
 */
async function foundInProviderSentMail(deps: SendDependencies, row: OutboxRecord, log: Logger): Promise<boolean> {
  try {
    const queue = await findQueueById(deps.db, row.queueId);
    const transport = await openOutgoingTransport(deps, queue, log);
    if (!offersSentMailLookup(transport)) return false;

    const found = await transport.findSent(row.messageId);
    log.info({ protocol: transport.protocol, found }, 'looked up an interrupted attempt in the provider sent mail');
    return found;
  } catch (error) {
    const details = error instanceof MailqueueError ? { failureType: error.type, err: error.message } : { err: error instanceof Error ? error.message : String(error) };
    log.warn(details, 'sent mail lookup failed, so the interrupted attempt is settled without it');
    return false;
  }
}

/**
 * Sends one outbox row through the queue's outgoing transport and marks it sent. The row lock and
 * the `sending` state make it at most once per row, except after a crash between the
 * server's acceptance and the mark. A row found in `sending` is therefore checked
 * against the stored outgoing message first, then, when the queue's transport offers
 * `findSent` (Gmail, Graph), against the provider's sent mail by Message-ID: a copy found
 * there is recorded as sent without sending again. If both miss, or the lookup fails, an
 * agent reply is sent again with the same Message-ID (receivers collapse it), and an
 * auto-response is failed as uncertain rather than risk a second copy.
 */
export async function sendOutboxMail(deps: SendDependencies, outboxId: number): Promise<SendOutcome> {
  const claimed = await deps.db.transaction(async (trx) => {
    const row = await lockOutbox(trx, outboxId);
    if (row === null) {
      throw new MailqueueError(FailureType.InvalidConfiguration, `Outbox row ${outboxId} does not exist`, { outboxId });
    }
    const previousState = row.state;
    if (previousState === 'pending' || previousState === 'handed-to-event' || previousState === 'sending') {
      await trx('outbox').where({ id: outboxId }).update({ state: 'sending', attempts: row.attempts + 1, attempted_at: trx.fn.now() });
    }
    return { row, previousState };
  });
  const { row, previousState } = claimed;
  const log = deps.logger.child({ outboxId, queueId: row.queueId, ticketId: row.ticketId, kind: row.kind });

  if (previousState === 'sent') return { state: 'sent', alreadySent: true };
  if (previousState === 'failed') return { state: 'failed', reason: row.failureReason ?? 'failed earlier' };

  if (previousState === 'sending') {
    const stored = await deps.db('messages').where({ queue_id: row.queueId, source_key: `outbox:${row.id}` }).first('id');
    if (stored) {
      await deps.db('outbox').where({ id: row.id }).update({ state: 'sent', sent_at: deps.db.fn.now() });
      log.warn('outgoing mail found delivered after an interrupted attempt; marked sent');
      return { state: 'sent', alreadySent: true };
    }
    if (await foundInProviderSentMail(deps, row, log)) {
      await recordSent(deps, row, row.raw);
      log.warn('outgoing mail found in the provider sent mail after an interrupted attempt, marked sent');
      return { state: 'sent', alreadySent: true };
    }
    if (row.kind === 'autoresponse') {
      return markFailed(deps, row, 'delivery uncertain: an earlier attempt was interrupted after it may have been accepted; auto-responses are not sent twice');
    }
    log.warn('resending agent reply after an interrupted attempt, with the same Message-ID');
  }

  try {
    const queue = await findQueueById(deps.db, row.queueId);
    const transport = await openOutgoingTransport(deps, queue, log);
    const result = await transport.send({ from: row.envelopeFrom, to: row.recipients }, row.raw);
    if (result.accepted.length === 0) {
      return markFailed(deps, row, `no recipient accepted: ${result.response}`);
    }
    await recordSent(deps, row, row.raw);
    log.info({ accepted: result.accepted.length, rejected: result.rejected.length }, 'outgoing mail sent');
    return { state: 'sent', alreadySent: false };
  } catch (error) {
    if (error instanceof MailqueueError && permanentTypes.has(error.type)) {
      return markFailed(deps, row, `${error.type}: ${error.message}`);
    }
    const message = error instanceof Error ? error.message : String(error);
    await updateOutbox(deps.db, row.id, { state: previousState === 'handed-to-event' ? 'handed-to-event' : 'pending', last_error: message });
    log.warn({ err: message }, 'outgoing mail attempt failed; will retry');
    throw error;
  }
}

/** Returns the row's delivery route, or `done` when it was sent or failed already. */
export async function routeOutbox(deps: SendDependencies, outboxId: number): Promise<OutboxRoute> {
  const row = await findOutbox(deps.db, outboxId);
  if (row === null) throw new MailqueueError(FailureType.InvalidConfiguration, `Outbox row ${outboxId} does not exist`, { outboxId });
  if (row.state === 'sent' || row.state === 'failed') return { mode: 'done', state: row.state };
  const profile = await loadSendingProfile(deps.db, row.queueId);
  if (profile.postprocessing === null) return { mode: 'direct' };
  return { mode: 'event', ...profile.postprocessing };
}

export async function markHandedToEvent(deps: SendDependencies, outboxId: number): Promise<void> {
  await deps.db('outbox').where({ id: outboxId }).whereIn('state', ['pending']).update({ state: 'handed-to-event' });
}

/** Fails a row that is not sent yet, with the reason shown on the ticket and in status. */
export async function failOutbox(deps: SendDependencies, outboxId: number, reason: string): Promise<SendOutcome> {
  const row = await findOutbox(deps.db, outboxId);
  if (row === null) throw new MailqueueError(FailureType.InvalidConfiguration, `Outbox row ${outboxId} does not exist`, { outboxId });
  if (row.state === 'sent') return { state: 'sent', alreadySent: true };
  if (row.state === 'failed') return { state: 'failed', reason: row.failureReason ?? reason };
  return markFailed(deps, row, reason);
}

/** The composed mail, for a postprocessing event. The raw bytes travel as base64 text. */
export interface ComposedMail {
  outboxId: number;
  messageId: string;
  subject: string;
  envelopeFrom: string;
  recipients: string[];
  state: string;
  rawBase64: string;
}

export async function readComposedMail(deps: SendDependencies, outboxId: number): Promise<ComposedMail> {
  const row = await findOutbox(deps.db, outboxId);
  if (row === null) throw new MailqueueError(FailureType.InvalidConfiguration, `Outbox row ${outboxId} does not exist`, { outboxId });
  return { outboxId, messageId: row.messageId, subject: row.subject, envelopeFrom: row.envelopeFrom, recipients: row.recipients, state: row.state, rawBase64: row.raw.toString('base64') };
}

/**
 * Replaces the composed mail of an unsent row. The Message-ID must stay the same,
 * because retries and threading depend on it; recipients stay as composed.
 */
export async function replaceComposedMail(deps: SendDependencies, outboxId: number, rawBase64: string): Promise<void> {
  const raw = Buffer.from(rawBase64, 'base64');
  const parsed = await parseMessage(raw);
  await deps.db.transaction(async (trx) => {
    const row = await lockOutbox(trx, outboxId);
    if (row === null) throw new MailqueueError(FailureType.InvalidConfiguration, `Outbox row ${outboxId} does not exist`, { outboxId });
    if (row.state === 'sent' || row.state === 'failed') {
      throw new MailqueueError(FailureType.InvalidConfiguration, `Outbox row ${outboxId} is ${row.state}; only unsent mail can be replaced`, { outboxId });
    }
    const messageIdHeader = parsed.headers.find(([name]) => name === 'message-id')?.[1] ?? '';
    if (!extractMessageIds(messageIdHeader).includes(row.messageId)) {
      throw new MailqueueError(FailureType.InvalidConfiguration, `The replacement for outbox row ${outboxId} must keep Message-ID <${row.messageId}>`, { outboxId });
    }
    await trx('outbox').where({ id: outboxId }).update({ raw, subject: parsed.subject });
  });
}
