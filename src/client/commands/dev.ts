import type { Command } from 'commander';
import { runDemo } from '../../dev/demo.js';
import { startDevStack, type DevStack } from '../../dev/stack.js';
import { logger } from '../../logger.js';
import { CliContext, varDirectory } from '../context.js';

/** Resolves on the first SIGINT or SIGTERM. */
function waitForStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/** Returns the lines about API tokens: the first admin's token once, else how to create one. */
function apiTokenLines(stack: DevStack): string[] {
  if (stack.firstAdmin !== null) {
    return [
      `Created the admin user "${stack.firstAdmin.alias}" with this API token (shown only now; only its hash is stored):`,
      `  ${stack.firstAdmin.token}`,
      `  curl -H "Authorization: Bearer ${stack.firstAdmin.token}" ${stack.apiUrl}/queues`,
      `Tickets are shown by category rights, admins included: grant some with \`bin/mailqueue users grant ${stack.firstAdmin.alias} CATEGORY\`.`,
    ];
  }
  return ['API tokens: create another with `bin/mailqueue users tokens create ALIAS --name NAME` (see docs/http-api.md).'];
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
      `  HTTP API:      ${stack.apiUrl}   (OpenAPI document: ${stack.apiUrl}/openapi.json)`,
      `  State:         ${varDir}`,
      '',
      ...apiTokenLines(stack),
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

async function runDemoCommand(): Promise<void> {
  const context = new CliContext();
  try {
    await runDemo({ db: context.db(), client: await context.temporal(), secretKey: context.secretKey(), logger, waitUntilStopped: waitForStopSignal });
  } finally {
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
        await runDemoCommand();
      } catch (error) {
        process.stderr.write(`mailqueue: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      }
    });
}
