import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { pino } from 'pino';

import { createIntegration, findConnection, listIntegrations, type OAuthIntegrationRecord } from '../../db/oauth.js';
import { findQueueById, requireQueueByNumber } from '../../db/queues.js';
import type { OAuthProviderName } from '../../domain/queue-config.js';
import { completeAuthorization, startAuthorization } from '../../oauth/connect.js';
import { waitForLoopbackRedirect } from '../../oauth/loopback.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, terminalSafe } from '../output.js';
import { signalConfigChanged } from '../queue-control.js';
import { parseQueueNumber } from './queue.js';

/** Logs of these commands go to standard error, so `--json` output on standard output stays parseable. */
const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn', base: { service: 'mailqueue-cli' } }, pino.destination(2));

/** How long `oauth connect --listen` waits for the browser, in milliseconds. */
const listenTimeoutMs = 10 * 60 * 1000;

/** Reads all of standard input; used for the client secret so it never appears in shell history. */
async function readStandardInput(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a secret from a terminal without echoing it. */
async function promptHidden(question: string): Promise<string> {
  process.stderr.write(question);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  let value = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      stdin.on('data', (chunk: Buffer) => {
        for (const character of chunk.toString('utf8')) {
          if (character === '\r' || character === '\n') resolve(value);
          else if (character === '\u0003') reject(new Error('interrupted'));
          else if (character === '\u007f') value = value.slice(0, -1);
          else value += character;
        }
      });
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

/** Returns the client secret from `--client-secret-file`, a hidden prompt, or piped standard input. */
async function readClientSecret(file: string | undefined): Promise<string> {
  let secret: string;
  if (file !== undefined) secret = await readFile(file, 'utf8');
  else if (process.stdin.isTTY) secret = await promptHidden('Client secret: ');
  else secret = await readStandardInput();
  return secret.replace(/\r?\n$/, '');
}

/** Builds the `--json` form of an integration; it never contains the client secret. */
export function integrationJson(integration: OAuthIntegrationRecord) {
  return {
    name: integration.name,
    provider: integration.provider,
    tenant: integration.tenant,
    clientId: integration.clientId,
    redirectUri: integration.redirectUri,
    authorityUrl: integration.authorityUrl,
    tokenUrl: integration.tokenUrl,
    apiUrl: integration.apiUrl,
    createdAt: integration.createdAt,
  };
}

/** Tells the queue's running workflow to reload, so fetching resumes with the new connection. */
async function notifyWorkflow(context: CliContext, queueNumber: number): Promise<string> {
  if (context.env.TEMPORAL_ADDRESS === undefined) return `Set TEMPORAL_ADDRESS and run \`mailqueue queue update\` or restart the worker so queue ${queueNumber} picks it up.`;
  const signalled = await signalConfigChanged(await context.temporal(), queueNumber);
  return signalled ? `Queue ${queueNumber} resumes fetching on its own.` : `Queue ${queueNumber} has no running workflow: \`mailqueue queue start ${queueNumber}\`.`;
}

export function registerOAuthCommands(program: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  const oauth = program.command('oauth').description('connect mailboxes with OAuth2 (Microsoft 365, Google); see docs/mailboxes.md');
  const integrations = oauth.command('integrations').description('registered applications at Microsoft or Google, configured once and named by queues');

  integrations
    .command('add')
    .description('add an integration; the client secret is read from --client-secret-file, a hidden prompt, or standard input')
    .requiredOption('--name <name>', 'name queue files use in "integration"')
    .requiredOption('--provider <provider>', 'microsoft or google')
    .requiredOption('--client-id <id>', 'application (client) id of the app registration')
    .requiredOption('--redirect-uri <uri>', 'redirect URI registered for the app, e.g. http://127.0.0.1:8765/oauth/callback')
    .option('--tenant <tenant>', 'Microsoft tenant id or domain (required for microsoft)')
    .option('--client-secret-file <path>', 'file holding the client secret')
    .option('--authority-url <url>', 'replace the sign-in authority (tests and sovereign clouds), https for Microsoft')
    .option('--token-url <url>', 'replace the token endpoint')
    .option('--api-url <url>', 'replace the Gmail or Graph API base URL')
    .option('--json', 'print the integration as JSON')
    .action((options: { name: string; provider: string; clientId: string; redirectUri: string; tenant?: string; clientSecretFile?: string; authorityUrl?: string; tokenUrl?: string; apiUrl?: string; json?: boolean }) =>
      run(async (context) => {
        const clientSecret = await readClientSecret(options.clientSecretFile);
        const created = await createIntegration(context.db(), context.secretKey(), {
          name: options.name,
          provider: options.provider as OAuthProviderName,
          tenant: options.tenant ?? null,
          clientId: options.clientId,
          clientSecret,
          redirectUri: options.redirectUri,
          authorityUrl: options.authorityUrl ?? null,
          tokenUrl: options.tokenUrl ?? null,
          apiUrl: options.apiUrl ?? null,
        });
        if (options.json) printJson(integrationJson(created));
        else process.stdout.write(`Added ${created.provider} integration "${terminalSafe(created.name)}".\n`);
      }),
    );

  integrations
    .command('list')
    .description('list integrations (never their secrets)')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      run(async (context) => {
        const rows = await listIntegrations(context.db());
        if (options.json) {
          printJson(rows.map(integrationJson));
          return;
        }
        printTable(['NAME', 'PROVIDER', 'TENANT', 'CLIENT ID', 'REDIRECT URI'], rows.map((row) => [terminalSafe(row.name), row.provider, row.tenant ?? '-', row.clientId, row.redirectUri]));
      }),
    );

  oauth
    .command('connect')
    .description("print the sign-in URL for a queue's mailbox; complete with --listen or `mailqueue oauth callback`")
    .requiredOption('--queue <number>', 'queue number')
    .option('--outgoing', 'connect the outgoing side (when it does not share the incoming connection)')
    .option('--listen', 'wait on the loopback redirect URI for the browser and complete by itself')
    .option('--json', 'print the URL and state as JSON')
    .action((options: { queue: string; outgoing?: boolean; listen?: boolean; json?: boolean }) =>
      run(async (context) => {
        const queue = await requireQueueByNumber(context.db(), parseQueueNumber(options.queue));
        const deps = { db: context.db(), secretKey: context.secretKey(), logger };
        const started = await startAuthorization(deps, queue, options.outgoing ? 'outgoing' : 'incoming');
        if (options.json && !options.listen) {
          printJson({ queue: queue.number, url: started.url, state: started.state, redirectUri: started.redirectUri, expiresAt: started.expiresAt });
          return;
        }
        process.stdout.write(`Open this URL in a browser and sign in as the mailbox's account (valid until ${started.expiresAt}):\n\n  ${started.url}\n\n`);
        if (!options.listen) {
          process.stdout.write(`Then run: mailqueue oauth callback '<the address the browser was sent to>'\n`);
          return;
        }
        const callback = await waitForLoopbackRedirect(started.redirectUri, listenTimeoutMs);
        const connection = await completeAuthorization(deps, callback);
        process.stdout.write(`Connected ${terminalSafe(connection.accountAddress ?? 'the account')} to queue ${queue.number}. ${await notifyWorkflow(context, queue.number)}\n`);
      }),
    );

  oauth
    .command('callback <url>')
    .description('complete a sign-in with the address the browser was redirected to')
    .option('--json', 'print the connection as JSON')
    .action((url: string, options: { json?: boolean }) =>
      run(async (context) => {
        const connection = await completeAuthorization({ db: context.db(), secretKey: context.secretKey(), logger }, url);
        const queue = await findQueueById(context.db(), connection.queueId);
        const note = await notifyWorkflow(context, queue.number);
        if (options.json) printJson({ queue: queue.number, purpose: connection.purpose, accountAddress: connection.accountAddress, state: connection.state });
        else process.stdout.write(`Connected ${terminalSafe(connection.accountAddress ?? 'the account')} to queue ${queue.number}. ${note}\n`);
      }),
    );

  oauth
    .command('status')
    .description("show a queue's OAuth2 connections: account, state, last error")
    .requiredOption('--queue <number>', 'queue number')
    .option('--json', 'print JSON')
    .action((options: { queue: string; json?: boolean }) =>
      run(async (context) => {
        const queue = await requireQueueByNumber(context.db(), parseQueueNumber(options.queue));
        const connections = (await Promise.all((['incoming', 'outgoing'] as const).map((purpose) => findConnection(context.db(), queue.id, purpose)))).filter((row) => row !== null);
        const rows = connections.map((row) => ({ purpose: row.purpose, accountAddress: row.accountAddress, state: row.state, connectedAt: row.connectedAt, degradedSince: row.degradedSince, lastError: row.lastError }));
        if (options.json) {
          printJson({ queue: queue.number, connections: rows });
          return;
        }
        printTable(['PURPOSE', 'ACCOUNT', 'STATE', 'SINCE', 'LAST ERROR'], rows.map((row) => [row.purpose, terminalSafe(row.accountAddress ?? '-'), row.state, row.degradedSince ?? row.connectedAt ?? '-', terminalSafe(row.lastError ?? '-')]));
      }),
    );
}
