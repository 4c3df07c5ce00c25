/**
 * Measures the outbox's duplicate window for each mail. It runs from the SMTP server's
 * acceptance of the DATA (the capture server stores the mail just before its 250 reply)
 * to the outbox row's `sent_at`, which PostgreSQL sets when the row is marked sent. A
 * crash inside this window leaves the row in `sending` although the mail went out.
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/outbox-window.js [N]
 * Starts its own PostgreSQL, Temporal dev server, worker and capture SMTP server
 * (STARTTLS and AUTH) on 127.0.0.1; no IMAP server, because the ticket is imported.
 * Sends N agent replies (default 50) one after another through the real delivery
 * workflow and prints min, median, p95 and max in milliseconds.
 */
import { performance } from 'node:perf_hooks';
import { importMessages } from '../src/activities/import.js';
import { composeAgentReply } from '../src/activities/reply.js';
import { startOutboxDelivery } from '../src/client/queue-control.js';
import { createQueue } from '../src/db/queues.js';
import { writeInstallationSetting } from '../src/db/settings.js';
import { createUser } from '../src/db/users.js';
import { queueConfigSchema } from '../src/domain/queue-config.js';
import { newSecretKey, startTestDatabase, startTestTemporal, startTestWorker, testLogger, waitFor } from '../test/support/environment.js';
import { startCaptureSmtpServer } from '../test/support/smtp-capture.js';

const SMTP_LOGIN = { user: 'bench-sender', password: 'bench-password' };

/** Wall-clock milliseconds with sub-millisecond resolution. */
function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

function percentile(sorted: number[], fraction: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 50);
  if (!Number.isInteger(count) || count < 1) throw new Error(`Mail count "${process.argv[2]}" is invalid: give a positive whole number, e.g. 50`);

  const database = await startTestDatabase();
  const temporal = await startTestTemporal();
  const smtp = await startCaptureSmtpServer({ mode: 'starttls', auth: SMTP_LOGIN });
  const secretKey = newSecretKey();
  const worker = await startTestWorker({ temporalAddress: temporal.address, db: database.db, secretKey });
  try {
    await writeInstallationSetting(database.db, 'ticketTagTemplate', '[Ticket#{number}]');
    const queue = await createQueue(
      database.db,
      secretKey,
      queueConfigSchema.parse({
        number: 1,
        title: 'Bench',
        // The incoming server is never contacted: the ticket is imported.
        incoming: { host: '127.0.0.1', port: 1, user: 'bench@helpdesk.example.com', password: 'unused', ssl: false },
        outgoing: { host: smtp.host, port: smtp.port, security: 'starttls-required', user: SMTP_LOGIN.user, password: SMTP_LOGIN.password, sslTrusted: false },
      }),
    );
    await createUser(database.db, { alias: 'bench', email: 'bench.agent@helpdesk.example.com', name: 'Bench Agent' });
    const customer = Buffer.from('From: customer@customer.example\r\nTo: bench@helpdesk.example.com\r\nSubject: Bench ticket\r\nMessage-ID: <bench-1@customer.example>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\nHello.\r\n');
    await importMessages(database.db, queue, [customer], {}, testLogger);
    const ticket: { number: number } = await database.db('tickets').first('number');

    const windows: number[] = [];
    for (let index = 0; index < count; index++) {
      const reply = await composeAgentReply(database.db, { ticketNumber: ticket.number, userAlias: 'bench', text: `Reply ${index + 1}`, html: null, attachments: [] }, testLogger);
      const accepted = smtp.waitForMessages(index + 1, 30_000).then(() => wallClockMs());
      await startOutboxDelivery(temporal.client, reply.outboxId);
      const acceptedAt = await accepted;
      const row = await waitFor(`outbox row ${reply.outboxId} to be sent`, async () => {
        const found: { state: string; sent_at: Date | null } | undefined = await database.db('outbox').where({ id: reply.outboxId }).first('state', 'sent_at');
        return found?.state === 'sent' && found.sent_at ? found : undefined;
      });
      windows.push((row.sent_at as Date).getTime() - acceptedAt);
    }

    const sorted = [...windows].sort((a, b) => a - b);
    const format = (value: number): string => value.toFixed(1);
    process.stdout.write(`outbox duplicate window over ${count} mails (ms, SMTP acceptance to row marked sent)\n`);
    process.stdout.write(`min ${format(sorted[0])}  median ${format(percentile(sorted, 0.5))}  p95 ${format(percentile(sorted, 0.95))}  max ${format(sorted[sorted.length - 1])}\n`);
  } finally {
    await worker.stop();
    await smtp.close();
    await temporal.stop();
    await database.stop();
  }
}

await main();
