import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { setTimeout as delay } from 'node:timers/promises';
import { createQueue, softDeleteQueue, suggestQueueNumber } from '../../db/queues.js';
import { listTickets } from '../../db/tickets.js';
import { appendToMailbox } from '../../dev/demo-mailbox.js';
import { startDovecot } from '../../dev/dovecot.js';
import { startDevStack } from '../../dev/stack.js';
import { findDovecot, repoRoot } from '../../dev/tools.js';
import { logger } from '../../logger.js';
import { CliContext, varDirectory } from '../context.js';
import { signalConfigChanged, signalMailArrived, startQueueWorkflow } from '../queue-control.js';

/** Resolves on the first SIGINT or SIGTERM. */
function waitForStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

async function runDev(): Promise<void> {
  const varDir = varDirectory();
  const stack = await startDevStack({ varDir, env: process.env, logger });
  const ui = stack.uiUrl ?? '(external Temporal: use its own UI)';
  process.stdout.write(
    [
      '',
      'mailqueue is running.',
      `  Temporal UI:   ${ui}`,
      `  Temporal:      ${stack.temporalAddress}`,
      `  PostgreSQL:    ${stack.databaseUrl.replace(/:[^:@/]*@/, ':****@')}`,
      `  State:         ${varDir}`,
      '',
      'Next, in another terminal:',
      '  npm run demo                                   # a local mailbox with sample mail becomes tickets',
      '  bin/mailqueue queue create --file queue.json   # your own mailbox (see docs/queue-config.md)',
      '  bin/mailqueue queue list',
      '  bin/mailqueue tickets list',
      '',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  const reason = await Promise.race([waitForStopSignal(), stack.running.then(() => 'worker stopped')]);
  logger.info({ reason }, 'dev stack stopping');
  await stack.stop();
  logger.info('dev stack stopped');
}

async function runDemo(): Promise<void> {
  const context = new CliContext();
  let dovecotDir: string | null = null;
  let stopDovecot: (() => Promise<void>) | null = null;
  try {
    findDovecot();
    const db = context.db();
    const client = await context.temporal();

    dovecotDir = await mkdtemp(join(tmpdir(), 'mailqueue-demo-'));
    const password = 'demo-password';
    const dovecot = await startDovecot({ dir: dovecotDir, users: [{ user: 'support@demo.example.com', password }], logger });
    stopDovecot = dovecot.stop;

    const number = await suggestQueueNumber(db);
    const queue = await createQueue(db, context.secretKey(), {
      number,
      title: 'Demo support',
      description: 'Created by `npm run demo` against a throwaway local Dovecot',
      active: true,
      category: 'Demo',
      pollIntervalSeconds: 30,
      maxMessageBytes: 26_214_400,
      incoming: { protocol: 'imap', host: dovecot.host, port: dovecot.imapPort, user: 'support@demo.example.com', password, ssl: false, sslTrusted: true, dontKeepEmails: false, folder: 'INBOX' },
    });
    await startQueueWorkflow(client, queue);

    const samplesDir = join(repoRoot, 'samples');
    const files = (await readdir(samplesDir)).filter((name) => name.endsWith('.eml')).sort();
    for (const file of files) {
      await appendToMailbox({ host: dovecot.host, port: dovecot.imapPort, user: 'support@demo.example.com', password }, await readFile(join(samplesDir, file)));
      await signalMailArrived(client, queue.number);
      process.stdout.write(`Delivered ${file}\n`);
      await delay(1500);
    }

    const deadline = Date.now() + 60_000;
    let tickets = await listTickets(db, { queueId: queue.id });
    while (Date.now() < deadline) {
      const pending = await db('messages').where({ queue_id: queue.id, state: 'pending' }).count<{ count: string }>('id as count').first();
      const stored = await db('messages').where({ queue_id: queue.id }).count<{ count: string }>('id as count').first();
      if (Number(stored?.count) >= files.length && Number(pending?.count) === 0) break;
      await delay(500);
    }
    tickets = await listTickets(db, { queueId: queue.id });
    process.stdout.write(`\nQueue ${queue.number} turned ${files.length} messages into ${tickets.length} tickets:\n`);
    for (const ticket of tickets.reverse()) process.stdout.write(`  ${ticket.number}  ${ticket.title}  (${ticket.requesterAddress ?? 'no address'})\n`);
    process.stdout.write(
      `\nTry: bin/mailqueue tickets show ${tickets[0]?.number ?? '<number>'}\n     bin/mailqueue queue status ${queue.number}\nThe workflow email-queue-${queue.number} is in the Temporal UI. Press Ctrl-C to end the demo (its queue is deleted, its tickets stay).\n`,
    );

    await waitForStopSignal();
    await softDeleteQueue(db, queue.id);
    await signalConfigChanged(client, queue.number);
  } finally {
    await stopDovecot?.().catch(() => undefined);
    if (dovecotDir !== null) await rm(dovecotDir, { recursive: true, force: true });
    await context.close();
  }
}

export function registerDevCommands(program: Command): void {
  program
    .command('dev')
    .description('run the whole stack on this machine: Temporal dev server with its UI, embedded PostgreSQL, migrations, worker')
    .action(async () => {
      try {
        await runDev();
      } catch (error) {
        logger.error({ err: error }, 'dev stack failed');
        process.stderr.write(`mailqueue: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      }
    });

  program
    .command('demo')
    .description('with `npm start` running: start a throwaway local IMAP server, deliver sample mail and watch it become tickets')
    .action(async () => {
      try {
        await runDemo();
      } catch (error) {
        process.stderr.write(`mailqueue: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      }
    });
}
