import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Worker } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { createDatabase, migrateToLatest } from '../db/knex.js';
import { listQueues } from '../db/queues.js';
import { DEFAULT_API_HOST, DEFAULT_API_PORT, startApiServer } from '../api/listen.js';
import { startQueueWorkflow } from '../client/queue-control.js';
import { generateSecretKey, parseSecretKey } from '../secrets.js';
import { createWorker } from '../worker.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { ensureFirstAdmin } from './first-admin.js';
import { lockStateFolder } from './instance-lock.js';
import { isPortFree } from './ports.js';
import { registerSearchAttributes, startTemporalDevServer } from './temporal-server.js';

/** Default ports of the embedded Temporal dev server; its Web UI listens on 8233. */
const DEV_TEMPORAL_PORT = 7233;
const DEV_TEMPORAL_UI_PORT = 8233;

export interface DevStack {
  databaseUrl: string;
  temporalAddress: string;
  uiUrl: string | null;
  /** Base URL of the HTTP API. */
  apiUrl: string;
  /** The first admin's token, on the start that created it; null on every later start. */
  firstAdmin: { alias: string; token: string } | null;
  secretKey: string;
  db: Knex;
  worker: Worker;
  /** Resolves when the worker stops. */
  running: Promise<void>;
  stop(): Promise<void>;
}

/** Reads the dev secret key from `var/secret-key`, creating it (mode 0600) on first start. */
async function loadOrCreateSecretKey(varDir: string): Promise<string> {
  const path = join(varDir, 'secret-key');
  if (existsSync(path)) {
    return (await readFile(path, 'utf8')).trim();
  }
  const key = generateSecretKey();
  await writeFile(path, `${key}\n`, { mode: 0o600 });
  return key;
}

/** Port of the dev stack's HTTP API: MAILQUEUE_API_PORT, default 8080. */
function apiPort(env: NodeJS.ProcessEnv): number {
  const text = env.MAILQUEUE_API_PORT;
  if (text === undefined || text === '') return DEFAULT_API_PORT;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`MAILQUEUE_API_PORT="${text}" is not a port: use a number from 1 to 65535, or unset it for ${DEFAULT_API_PORT}`);
  }
  return port;
}

/**
 * Starts everything mailqueue needs on one machine: embedded PostgreSQL and the
 * Temporal dev server (unless DATABASE_URL / TEMPORAL_ADDRESS point elsewhere), with
 * state under `varDir`, then migrations and a worker, then every active queue, then
 * the HTTP API on loopback (with a first admin and token on a database without admin).
 */
export async function startDevStack(options: { varDir: string; env: NodeJS.ProcessEnv; logger: Logger }): Promise<DevStack> {
  const { varDir, env, logger } = options;
  await mkdir(varDir, { recursive: true });
  const lock = await lockStateFolder(varDir);
  const stopActions: Array<() => Promise<void>> = [() => lock.release()];
  const stopAll = async (): Promise<void> => {
    for (const action of stopActions.reverse()) {
      await action().catch((error: unknown) => logger.error({ err: error }, 'dev stack shutdown step failed'));
    }
  };

  try {
    const secretKey = env.MAILQUEUE_SECRET_KEY ?? (await loadOrCreateSecretKey(varDir));
    parseSecretKey(secretKey);
    const port = apiPort(env);
    if (!(await isPortFree(port))) {
      throw new Error(`Port ${port} on 127.0.0.1 is in use, and the dev stack's HTTP API needs it: stop what listens there, or set MAILQUEUE_API_PORT to a free port`);
    }

    let databaseUrl = env.DATABASE_URL;
    if (databaseUrl === undefined) {
      const postgres = await startEmbeddedPostgres({ dataDir: join(varDir, 'postgres'), persistent: true, logger });
      stopActions.push(() => postgres.stop());
      databaseUrl = postgres.url;
    }

    let temporalAddress = env.TEMPORAL_ADDRESS;
    let uiUrl: string | null = null;
    const namespace = env.TEMPORAL_NAMESPACE ?? 'default';
    if (temporalAddress === undefined) {
      for (const port of [DEV_TEMPORAL_PORT, DEV_TEMPORAL_UI_PORT]) {
        if (!(await isPortFree(port))) {
          throw new Error(`Port ${port} on 127.0.0.1 is in use, and the dev stack's Temporal server needs ${DEV_TEMPORAL_PORT} and its Web UI ${DEV_TEMPORAL_UI_PORT}: stop what listens there (another Temporal dev server?), or set TEMPORAL_ADDRESS to use a running Temporal`);
        }
      }
      const temporal = await startTemporalDevServer({ dbFile: join(varDir, 'temporal.db'), port: DEV_TEMPORAL_PORT, uiPort: DEV_TEMPORAL_UI_PORT, logger });
      stopActions.push(() => temporal.stop());
      temporalAddress = temporal.address;
      uiUrl = temporal.uiUrl;
    } else {
      await registerSearchAttributes(temporalAddress, namespace);
    }

    const db = createDatabase(databaseUrl);
    stopActions.push(() => db.destroy());
    const applied = await migrateToLatest(db);
    logger.info({ applied }, 'database migrated');

    const envFile = join(varDir, 'dev.env');
    await writeFile(envFile, `# Written by \`mailqueue dev\` while it runs; CLI commands read it.\nDATABASE_URL=${databaseUrl}\nTEMPORAL_ADDRESS=${temporalAddress}\nTEMPORAL_NAMESPACE=${namespace}\nMAILQUEUE_SECRET_KEY=${secretKey}\n`, { mode: 0o600 });
    await chmod(envFile, 0o600);
    stopActions.push(() => rm(envFile, { force: true }));

    const worker = await createWorker({ temporalAddress, namespace, db, secretKey: parseSecretKey(secretKey), logger });
    const running = worker.run();
    stopActions.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch((error: unknown) => logger.error({ err: error }, 'worker stopped with an error'));
    });

    const connection = await Connection.connect({ address: temporalAddress });
    stopActions.push(() => connection.close());
    const client = new Client({ connection, namespace });
    for (const queue of (await listQueues(db)).filter((q) => q.active)) {
      const outcome = await startQueueWorkflow(client, queue);
      logger.info({ queueNumber: queue.number, started: outcome.started }, 'queue workflow ensured');
    }

    const firstAdmin = await ensureFirstAdmin(db);
    const api = await startApiServer({ db, temporal: client, secretKey: parseSecretKey(secretKey), logger, host: DEFAULT_API_HOST, port });
    stopActions.push(() => api.close());

    return { databaseUrl, temporalAddress, uiUrl, apiUrl: api.url, firstAdmin, secretKey, db, worker, running, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
