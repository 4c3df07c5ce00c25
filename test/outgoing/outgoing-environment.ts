import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { writeInstallationSetting } from '../../src/db/settings.js';
import type { DovecotServer, DovecotUser } from '../../src/dev/dovecot.js';
import { queueConfigSchema, type QueueConfigInput } from '../../src/domain/queue-config.js';
import type { ImapConnectionSettings } from '../../src/mail/incoming.js';
import { signalMailArrived } from '../../src/client/queue-control.js';
import { generateSecretKey, parseSecretKey } from '../../src/secrets.js';
import { appendMessages } from '../support/imap-admin.js';
import { startCaptureSmtpServer, type CaptureSmtpServer, type CaptureSmtpServerOptions, type CapturedMail } from '../support/smtp-capture.js';
import { startTestDatabase, startTestDovecot, startTestTemporal, startTestWorker, waitFor, type RunningWorker } from '../support/environment.js';

/** Ticket tag of every outgoing test: `[Ticket#N]`. */
export const TAG_TEMPLATE = '[Ticket#{number}]';

/** SMTP login the capture server accepts. */
export const SMTP_LOGIN = { user: 'mailqueue-sender', password: 'smtp-test-password' };

/** Mailboxes on the test Dovecot; each queue of a test file takes its own. */
export const mailboxes: DovecotUser[] = Array.from({ length: 8 }, (_, index) => ({ user: `queue${index + 1}@helpdesk.example.com`, password: `queue-${index + 1}-password` }));

export interface OutgoingEnvironment {
  db: Knex;
  databaseUrl: string;
  client: Client;
  temporalAddress: string;
  dovecot: DovecotServer;
  smtp: CaptureSmtpServer;
  secretKey: Buffer;
  /** The key as MAILQUEUE_SECRET_KEY spells it, for child processes. */
  secretKeyText: string;
  /** The in-process worker, or null when the test runs its own. */
  worker: RunningWorker | null;
  stop(): Promise<void>;
}

/**
 * Starts PostgreSQL, the Temporal dev server, Dovecot with `mailboxes`, a capture SMTP
 * server and (unless `worker` is false) a worker in this process.
 */
export async function startOutgoingEnvironment(options: { smtp: CaptureSmtpServerOptions; worker?: boolean }): Promise<OutgoingEnvironment> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    for (const action of stops.reverse()) await action().catch(() => undefined);
  };
  try {
    const database = await startTestDatabase();
    stops.push(database.stop);
    await writeInstallationSetting(database.db, 'ticketTagTemplate', TAG_TEMPLATE);
    const temporal = await startTestTemporal();
    stops.push(temporal.stop);
    const mail = await startTestDovecot(mailboxes);
    stops.push(mail.stop);
    const smtp = await startCaptureSmtpServer(options.smtp);
    stops.push(() => smtp.close());

    const secretKeyText = generateSecretKey();
    const secretKey = parseSecretKey(secretKeyText);
    let worker: RunningWorker | null = null;
    if (options.worker !== false) {
      worker = await startTestWorker({ temporalAddress: temporal.address, db: database.db, secretKey });
      stops.push(worker.stop);
    }
    return { db: database.db, databaseUrl: database.url, client: temporal.client, temporalAddress: temporal.address, dovecot: mail.dovecot, smtp, secretKey, secretKeyText, worker, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export function imapSettings(dovecot: DovecotServer, mailbox: DovecotUser): ImapConnectionSettings {
  return { host: dovecot.host, port: dovecot.imapPort, user: mailbox.user, password: mailbox.password, ssl: false, sslTrusted: false };
}

/**
 * Creates a queue on `mailbox` that sends through the capture server with STARTTLS and
 * AUTH; `overrides` replace any field of the queue file.
 */
export async function createOutgoingQueue(env: Pick<OutgoingEnvironment, 'db' | 'secretKey' | 'dovecot' | 'smtp'>, mailbox: DovecotUser, overrides: Partial<QueueConfigInput>): Promise<QueueRecord> {
  const input: QueueConfigInput = {
    title: 'Support',
    // Long poll interval: the tests wake the workflow with the mailArrived signal.
    pollIntervalSeconds: 3600,
    incoming: { protocol: 'imap', host: env.dovecot.host, port: env.dovecot.imapPort, user: mailbox.user, password: mailbox.password, ssl: false, sslTrusted: false },
    outgoing: { host: env.smtp.host, port: env.smtp.port, security: 'starttls-required', user: SMTP_LOGIN.user, password: SMTP_LOGIN.password, sslTrusted: false },
    senderAddress: mailbox.user,
    ...overrides,
  };
  return createQueue(env.db, env.secretKey, queueConfigSchema.parse(input));
}

export interface CustomerMail {
  from: string;
  to: string;
  subject: string;
  messageId: string;
  replyTo?: string;
  inReplyTo?: string;
  references?: string[];
  /** Extra header lines, written as given. */
  headers?: string[];
  /** Return-Path as the delivering server would add it; `<>` for a bounce. */
  returnPath?: string;
  body?: string;
}

/** Builds the raw bytes of a customer's plain-text mail with CRLF line ends. */
export function customerMail(mail: CustomerMail): Buffer {
  const lines = [
    ...(mail.returnPath === undefined ? [] : [`Return-Path: ${mail.returnPath}`]),
    `From: ${mail.from}`,
    `To: ${mail.to}`,
    ...(mail.replyTo === undefined ? [] : [`Reply-To: ${mail.replyTo}`]),
    `Subject: ${mail.subject}`,
    'Date: Tue, 01 Dec 2026 10:00:00 +0000',
    `Message-ID: <${mail.messageId}>`,
    ...(mail.inReplyTo === undefined ? [] : [`In-Reply-To: <${mail.inReplyTo}>`]),
    ...(mail.references === undefined ? [] : [`References: ${mail.references.map((id) => `<${id}>`).join('\r\n ')}`]),
    ...(mail.headers ?? []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    mail.body ?? 'Hello, my printer does not print.',
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

/** Counts rows of `table` matching `where`. */
async function count(db: Knex, table: string, where: (query: Knex.QueryBuilder) => Knex.QueryBuilder): Promise<number> {
  const row = await where(db(table)).count<{ count: string }>('id as count').first();
  return Number(row?.count ?? 0);
}

/**
 * Appends `raws` to the queue's mailbox, wakes its workflow and waits until every copy
 * is stored, threaded and has its auto-response decision. Returns the message row ids
 * in the order of `raws`.
 */
export async function deliverToQueue(env: Pick<OutgoingEnvironment, 'db' | 'client' | 'dovecot'>, queue: QueueRecord, mailbox: DovecotUser, raws: Buffer[]): Promise<number[]> {
  const before = await count(env.db, 'mailbox_items', (query) => query.where({ queue_id: queue.id }));
  await appendMessages(imapSettings(env.dovecot, mailbox), 'INBOX', raws);
  await signalMailArrived(env.client, queue.number);
  return waitFor(
    `queue ${queue.number} to process ${raws.length} new mails`,
    async () => {
      const items: Array<{ message_row_id: number }> = await env.db('mailbox_items').where({ queue_id: queue.id }).orderBy('id').offset(before).select('message_row_id');
      if (items.length < raws.length) return undefined;
      const pending = await count(env.db, 'messages', (query) => query.where({ queue_id: queue.id, state: 'pending' }));
      const undecided = await count(env.db, 'messages', (query) => query.where({ queue_id: queue.id, state: 'threaded' }).where('thread_rule', 'like', 'new%').whereNull('autoresponse_decided_at'));
      if (pending > 0 || undecided > 0) return undefined;
      return items.map((item) => item.message_row_id);
    },
    60_000,
  );
}

export interface OutboxRow {
  id: number;
  state: string;
  kind: string;
  message_id: string;
  recipients: string[];
  failure_reason: string | null;
  last_error: string | null;
  attempts: number;
  ticket_id: number | null;
}

/** Waits until outbox row `outboxId` is in one of `states`; returns the row. */
export async function waitForOutboxState(db: Knex, outboxId: number, states: string[], timeoutMs = 60_000): Promise<OutboxRow> {
  return waitFor(
    `outbox row ${outboxId} to reach ${states.join(' or ')}`,
    async () => {
      const row: OutboxRow | undefined = await db('outbox').where({ id: outboxId }).first();
      return row && states.includes(row.state) ? row : undefined;
    },
    timeoutMs,
  );
}

/** Mails the capture server received for `recipient`. */
export function mailsTo(smtp: CaptureSmtpServer, recipient: string): CapturedMail[] {
  return smtp.messages.filter((mail) => mail.envelope.to.some((address) => address.toLowerCase() === recipient.toLowerCase()));
}

/** Waits until the capture server has received `expected` mails for `recipient`. */
export async function waitForMailsTo(smtp: CaptureSmtpServer, recipient: string, expected: number, timeoutMs = 30_000): Promise<CapturedMail[]> {
  return waitFor(
    `${expected} mails to ${recipient}`,
    async () => {
      const found = mailsTo(smtp, recipient);
      return found.length >= expected ? found : undefined;
    },
    timeoutMs,
  );
}

/** Returns the raw header section of a mail, unfolded into one string per field. */
export function rawHeaderLines(raw: Buffer): string[] {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const header = end === -1 ? text : text.slice(0, end);
  return header.split('\r\n').reduce<string[]>((fields, line) => {
    if (/^[ \t]/.test(line) && fields.length > 0) fields[fields.length - 1] += line;
    else fields.push(line);
    return fields;
  }, []);
}

/** Returns the unfolded raw value of header `name` (case-insensitive), or undefined. */
export function rawHeader(raw: Buffer, name: string): string | undefined {
  const prefix = `${name.toLowerCase()}:`;
  const line = rawHeaderLines(raw).find((field) => field.toLowerCase().startsWith(prefix));
  return line?.slice(prefix.length).trim();
}
