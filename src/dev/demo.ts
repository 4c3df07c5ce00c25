import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { signalConfigChanged, signalMailArrived, startQueueWorkflow } from '../client/queue-control.js';
import { createQueue, softDeleteQueue, suggestQueueNumber } from '../db/queues.js';
import { createTemplate, findTemplateByName } from '../db/templates.js';
import { listTickets } from '../db/tickets.js';
import { appendToMailbox } from './demo-mailbox.js';
import { startDovecot } from './dovecot.js';
import { startSmtpSink } from './smtp-sink.js';
import { findDovecot, repoRoot } from './tools.js';

const DEMO_MAILBOX = 'support@demo.example.com';
const DEMO_PASSWORD = 'demo-password';
const DEMO_TEMPLATE = 'demo-autoresponse';

/** Gives the sample messages fresh Message-IDs, so a second demo run is not taken for the first one's mail. */
function withRunToken(raw: Buffer, token: string): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/<demo-/g, `<demo-${token}-`), 'latin1');
}

async function ensureDemoTemplate(db: Knex): Promise<void> {
  if (await findTemplateByName(db, DEMO_TEMPLATE)) return;
  await createTemplate(db, {
    name: DEMO_TEMPLATE,
    kind: 'autoresponse',
    subject: 'We received your message: {{ticket.title}}',
    text: 'Hello {{customer.name}},\n\nthank you for writing to {{queue.title}}. Your request is ticket {{ticket.number}}; just reply to this mail to add to it.\n',
  });
}

async function count(db: Knex, table: string, where: Record<string, unknown>, states?: string[]): Promise<number> {
  const query = db(table).where(where);
  if (states) query.whereIn('state', states);
  const row = await query.count<{ count: string }>('id as count').first();
  return Number(row?.count ?? 0);
}

/** Returns the thread rule of each incoming message of the queue, oldest first, per ticket id. */
async function incomingThreading(db: Knex, queueId: number): Promise<Map<number, Array<string | null>>> {
  const rows: Array<{ ticket_id: number; thread_rule: string | null }> = await db('messages')
    .where({ queue_id: queueId, direction: 'incoming' })
    .whereNotNull('ticket_id')
    .orderBy('id')
    .select('ticket_id', 'thread_rule');
  const byTicket = new Map<number, Array<string | null>>();
  for (const row of rows) byTicket.set(row.ticket_id, [...(byTicket.get(row.ticket_id) ?? []), row.thread_rule]);
  return byTicket;
}

/** Describes how many messages a ticket contains and by which thread rule the later ones joined it. */
function describeThreading(rules: Array<string | null>): string {
  if (rules.length <= 1) return `${rules.length} message`;

  const joined = rules.slice(1).map((rule) => rule ?? 'unknown rule');
  return `${rules.length} messages: the later ${joined.length === 1 ? 'one' : joined.length} joined this ticket as a reply (${[...new Set(joined)].join(', ')})`;
}

/**
 * Shows a newcomer mail becoming tickets. It starts a throwaway Dovecot and a local
 * SMTP sink, creates a queue for the mailbox with an auto-response template, delivers
 * the sample messages and prints the tickets and auto-responses. When
 * `waitUntilStopped` resolves, it deletes the queue again (its tickets stay).
 */
export async function runDemo(options: { db: Knex; client: Client; secretKey: Buffer; logger: Logger; waitUntilStopped: () => Promise<unknown> }): Promise<void> {
  const { db, client, logger } = options;
  findDovecot();
  const dovecotDir = await mkdtemp(join(tmpdir(), 'mailqueue-demo-'));
  const sink = await startSmtpSink();
  try {
    const dovecot = await startDovecot({ dir: dovecotDir, users: [{ user: DEMO_MAILBOX, password: DEMO_PASSWORD }], logger });
    try {
      await ensureDemoTemplate(db);
      const queue = await createQueue(db, options.secretKey, {
        number: await suggestQueueNumber(db),
        title: 'Demo support',
        description: 'Created by `npm run demo` against a throwaway local Dovecot',
        active: true,
        category: 'Demo',
        pollIntervalSeconds: 30,
        maxMessageBytes: 26_214_400,
        incoming: { protocol: 'imap', host: dovecot.host, port: dovecot.imapPort, user: DEMO_MAILBOX, password: DEMO_PASSWORD, ssl: false, sslTrusted: true, dontKeepEmails: false, folder: 'INBOX' },
        outgoing: { host: sink.host, port: sink.port, security: 'none' },
        senderAddress: DEMO_MAILBOX,
        autoresponseTemplate: DEMO_TEMPLATE,
      });
      await startQueueWorkflow(client, queue);

      const token = randomBytes(4).toString('hex');
      const samplesDir = join(repoRoot, 'samples');
      const files = (await readdir(samplesDir)).filter((name) => name.endsWith('.eml')).sort();
      for (const file of files) {
        const raw = withRunToken(await readFile(join(samplesDir, file)), token);
        await appendToMailbox({ host: dovecot.host, port: dovecot.imapPort, user: DEMO_MAILBOX, password: DEMO_PASSWORD }, raw);
        await signalMailArrived(client, queue.number);
        process.stdout.write(`Delivered ${file}\n`);
        await delay(1500);
      }

      // Wait until every sample is stored and threaded, and every queued mail was delivered.
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const stored = await count(db, 'messages', { queue_id: queue.id, direction: 'incoming' });
        const pending = await count(db, 'messages', { queue_id: queue.id }, ['pending']);
        const undelivered = await count(db, 'outbox', { queue_id: queue.id }, ['pending', 'sending', 'handed-to-event']);
        if (stored >= files.length && pending === 0 && undelivered === 0) break;
        await delay(500);
      }

      const tickets = (await listTickets(db, { queueId: queue.id })).reverse();
      const held = await count(db, 'messages', { queue_id: queue.id }, ['held', 'duplicate', 'own']);
      process.stdout.write(`\nQueue ${queue.number} turned ${files.length} messages into ${tickets.length} tickets${held > 0 ? ` (${held} held: bin/mailqueue tickets held --queue ${queue.number})` : ''}:\n`);
      const threading = await incomingThreading(db, queue.id);
      for (const ticket of tickets) {
        process.stdout.write(`  ${ticket.number}  ${ticket.title}  (${ticket.requesterAddress ?? 'no address'})\n`);
        process.stdout.write(`        ${describeThreading(threading.get(ticket.id) ?? [])}\n`);
      }

      process.stdout.write(`\nAuto-responses sent (caught by a local SMTP sink):\n`);
      for (const mail of sink.mails) process.stdout.write(`  to ${mail.to.join(', ')}: ${mail.subject}\n`);
      const skipped: Array<{ number: number; reason: string }> = await db('ticket_events')
        .join('tickets', 'tickets.id', 'ticket_events.ticket_id')
        .where({ 'tickets.queue_id': queue.id, 'ticket_events.kind': 'autoresponse-skipped' })
        .select('tickets.number as number', db.raw("ticket_events.data->>'reason' as reason"));
      for (const entry of skipped) process.stdout.write(`  none for ticket ${entry.number}: ${entry.reason}\n`);

      process.stdout.write(
        `\nTry: bin/mailqueue tickets show ${tickets[0]?.number ?? '<number>'}\n     bin/mailqueue queue status ${queue.number}\n` +
          `The workflow email-queue-${queue.number} is in the Temporal UI. Press Ctrl-C to end the demo: its queue is deleted (bin/mailqueue queue list --all still shows it) and its tickets stay.\n`,
      );

      await options.waitUntilStopped();
      await softDeleteQueue(db, queue.id);
      await signalConfigChanged(client, queue.number);
    } finally {
      await dovecot.stop().catch((error: unknown) => logger.warn({ err: error }, 'demo dovecot did not stop cleanly'));
    }
  } finally {
    await sink.stop();
    await rm(dovecotDir, { recursive: true, force: true });
  }
}
