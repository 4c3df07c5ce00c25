#!/usr/bin/env node
import { Command } from 'commander';
import { createDatabase, migrateToLatest } from '../db/knex.js';
import { readInstallationSettings, writeInstallationSetting } from '../db/settings.js';
import { validateTicketTagTemplate } from '../domain/subject.js';
import { logger } from '../logger.js';
import { parseSecretKey } from '../secrets.js';
import { createWorker } from '../worker.js';
import { registerApiCommand } from './commands/api.js';
import { registerHelpdeskCommands } from './commands/helpdesks.js';
import { registerActivityCommands } from './commands/activity.js';
import { registerAgentCommands } from './commands/agent.js';
import { registerImportCommand } from './commands/import.js';
import { registerQueueAgentCommands } from './commands/queue-agents.js';
import { registerQueueCommands } from './commands/queue.js';
import { registerRuleCommands } from './commands/rules.js';
import { registerTemplateCommands } from './commands/templates.js';
import { registerTicketCommands } from './commands/tickets.js';
import { registerTimeGroupCommands } from './commands/time-groups.js';
import { registerUserCommands } from './commands/users.js';
import { registerViewCommands } from './commands/views.js';
import { registerDevCommands } from './commands/dev.js';
import { registerOAuthCommands } from './commands/oauth.js';
import { CliContext } from './context.js';
import { printJson } from './output.js';
import { readEnvironment, requireSetting } from '../config.js';

/** Runs one command with lazily opened connections, prints its error and sets the exit code. */
async function run(action: (context: CliContext) => Promise<void>): Promise<void> {
  let context: CliContext | null = null;
  try {
    context = new CliContext();
    await action(context);
  } catch (error) {
    process.stderr.write(`mailqueue: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  } finally {
    await context?.close().catch(() => undefined);
  }
}

const program = new Command('mailqueue')
  .description('Email queues for support desks on Temporal: mailboxes become tickets.')
  .showHelpAfterError();

registerQueueCommands(program, run);
registerQueueAgentCommands(program.commands.find((command) => command.name() === 'queue') as Command, run);
registerTicketCommands(program, run);
registerTemplateCommands(program, run);
registerUserCommands(program, run);
registerHelpdeskCommands(program, run);
registerViewCommands(program, run);
registerTimeGroupCommands(program, run);
registerRuleCommands(program, run);
registerImportCommand(program, run);
registerApiCommand(program, run);
registerOAuthCommands(program, run);
registerAgentCommands(program, run);
registerActivityCommands(program, run);
registerDevCommands(program);

const settings = program.command('settings').description('installation-wide settings');
settings
  .command('show')
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) =>
    run(async (context) => {
      const values = await readInstallationSettings(context.db());
      if (options.json) printJson(values);
      else for (const [key, value] of Object.entries(values)) process.stdout.write(`${key.padEnd(20)} ${value}\n`);
    }),
  );
settings
  .command('set <key> <value>')
  .description('set ticketTagTemplate (e.g. "[Ticket#{number}]") or firstTicketNumber (e.g. 100001)')
  .action((key: string, value: string) =>
    run(async (context) => {
      if (key === 'ticketTagTemplate') {
        const errors = validateTicketTagTemplate(value);
        if (errors.length > 0) throw new Error(`Invalid ticketTagTemplate "${value}": ${errors.join('; ')}`);
        await writeInstallationSetting(context.db(), 'ticketTagTemplate', value);
      } else if (key === 'firstTicketNumber') {
        const number = Number(value);
        if (!Number.isInteger(number) || number < 1) throw new Error(`Invalid firstTicketNumber "${value}": use a positive whole number`);
        await writeInstallationSetting(context.db(), 'firstTicketNumber', number);
      } else {
        throw new Error(`Unknown setting "${key}": use ticketTagTemplate or firstTicketNumber`);
      }
      process.stdout.write(`${key} set.\n`);
    }),
  );

program
  .command('migrate')
  .description('apply database migrations (needs DATABASE_URL)')
  .action(() =>
    run(async () => {
      const env = readEnvironment();
      const db = createDatabase(requireSetting(env, 'DATABASE_URL', 'set it to your PostgreSQL server'));
      try {
        const applied = await migrateToLatest(db);
        process.stdout.write(applied.length > 0 ? `Applied: ${applied.join(', ')}\n` : 'Database is up to date.\n');
      } finally {
        await db.destroy();
      }
    }),
  );

program
  .command('worker')
  .description('run a Temporal worker for the mailqueue task queue (needs TEMPORAL_ADDRESS, DATABASE_URL, MAILQUEUE_SECRET_KEY)')
  .action(async () => {
    try {
      const env = readEnvironment();
      const db = createDatabase(requireSetting(env, 'DATABASE_URL', 'set it to your PostgreSQL server'));
      const worker = await createWorker({
        temporalAddress: requireSetting(env, 'TEMPORAL_ADDRESS', 'set it to your Temporal frontend (host:port)'),
        namespace: env.TEMPORAL_NAMESPACE,
        db,
        secretKey: env.MAILQUEUE_SECRET_KEY === undefined ? null : parseSecretKey(env.MAILQUEUE_SECRET_KEY),
        logger,
      });
      logger.info({ taskQueue: 'mailqueue', namespace: env.TEMPORAL_NAMESPACE }, 'worker started');
      await worker.run();
      await db.destroy();
      logger.info('worker stopped');
    } catch (error) {
      logger.error({ err: error }, 'worker failed');
      process.stderr.write(`mailqueue: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  });

await program.parseAsync(process.argv);
