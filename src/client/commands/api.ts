import type { Command } from 'commander';
import { DEFAULT_API_HOST, DEFAULT_API_PORT, startApiServer } from '../../api/listen.js';
import { logger } from '../../logger.js';
import type { CliContext } from '../context.js';

/** Resolves on the first SIGINT or SIGTERM. */
function waitForStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`Invalid port "${value}": use a number from 0 to 65535 (0 picks a free one)`);
  return port;
}

export function registerApiCommand(program: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  program
    .command('api')
    .description('serve the HTTP API (needs DATABASE_URL, TEMPORAL_ADDRESS, MAILQUEUE_SECRET_KEY); see docs/http-api.md')
    .option('--host <address>', 'address to listen on', DEFAULT_API_HOST)
    .option('--port <port>', 'port to listen on', String(DEFAULT_API_PORT))
    .action((options: { host: string; port: string }) =>
      run(async (context) => {
        const port = parsePort(options.port);
        const api = await startApiServer({ db: context.db(), temporal: await context.temporal(), secretKey: context.secretKey(), logger, host: options.host, port });
        process.stdout.write(`mailqueue API listening on ${api.url} (OpenAPI document: ${api.url}/openapi.json). Press Ctrl-C to stop.\n`);
        const reason = await waitForStopSignal();
        logger.info({ reason }, 'api stopping');
        await api.close();
      }),
    );
}
