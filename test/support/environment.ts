import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { Knex } from 'knex';
import { pino, type Logger } from 'pino';
import { createDatabase, migrateToLatest } from '../../src/db/knex.js';
import { startDovecot, type DovecotServer, type DovecotUser } from '../../src/dev/dovecot.js';
import { startEmbeddedPostgres } from '../../src/dev/embedded-postgres.js';
import { startTemporalDevServer } from '../../src/dev/temporal-server.js';
import { generateSecretKey, parseSecretKey } from '../../src/secrets.js';
import { createWorker } from '../../src/worker.js';

/** Logger for tests: warnings and errors only, unless TEST_LOG_LEVEL sets another level. */
export const testLogger: Logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'warn' });

export interface TestDatabase {
  url: string;
  db: Knex;
  stop(): Promise<void>;
}

/**
 * Starts a migrated, empty database: a fresh database on DATABASE_URL's server when that is
 * set, else a throwaway embedded PostgreSQL in a temporary folder.
 */
export async function startTestDatabase(): Promise<TestDatabase> {
  const external = process.env.DATABASE_URL;
  if (external !== undefined) {
    const name = `mailqueue_test_${process.pid}_${Date.now()}`;
    const admin = createDatabase(external, { poolMax: 1 });
    await admin.raw(`CREATE DATABASE ${name}`);
    await admin.destroy();
    const url = new URL(external);
    url.pathname = `/${name}`;
    const db = createDatabase(url.toString());
    await migrateToLatest(db);
    return {
      url: url.toString(),
      db,
      stop: async () => {
        await db.destroy();
        const cleanup = createDatabase(external, { poolMax: 1 });
        await cleanup.raw(`DROP DATABASE IF EXISTS ${name}`);
        await cleanup.destroy();
      },
    };
  }

  const dataDir = await mkdtemp(join(tmpdir(), 'mailqueue-pg-'));
  // PostgreSQL runs as its own system user and must be able to enter the folder.
  await chmod(dataDir, 0o755);
  const postgres = await startEmbeddedPostgres({ dataDir: join(dataDir, 'data'), persistent: false, logger: testLogger });
  const db = createDatabase(postgres.url);
  await migrateToLatest(db);
  return {
    url: postgres.url,
    db,
    stop: async () => {
      await db.destroy();
      await postgres.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestTemporal {
  address: string;
  client: Client;
  stop(): Promise<void>;
}

/** Starts an in-memory Temporal dev server (the `temporal` CLI) with the queue search attributes. */
export async function startTestTemporal(): Promise<TestTemporal> {
  const server = await startTemporalDevServer({ headless: true, logger: testLogger });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: 'default' });
  return {
    address: server.address,
    client,
    stop: async () => {
      await connection.close();
      await server.stop();
    },
  };
}

export interface RunningWorker {
  worker: Worker;
  stop(): Promise<void>;
}

/** Runs a real worker for the mailqueue task queue (or `taskQueue`) until stopped. */
export async function startTestWorker(options: { temporalAddress: string; db: Knex; secretKey: Buffer; taskQueue?: string }): Promise<RunningWorker> {
  const worker = await createWorker({ temporalAddress: options.temporalAddress, namespace: 'default', db: options.db, secretKey: options.secretKey, logger: testLogger, taskQueue: options.taskQueue });
  const running = worker.run();
  return {
    worker,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

export interface TestMailServer {
  dovecot: DovecotServer;
  stop(): Promise<void>;
}

export async function startTestDovecot(users: DovecotUser[], options: { tls?: boolean; pop3?: boolean; oauth2IntrospectionUrl?: string } = {}): Promise<TestMailServer> {
  // Short folder names: Dovecot's socket paths must stay under 108 bytes.
  const dir = await mkdtemp(join(tmpdir(), 'mq-dc-'));
  const dovecot = await startDovecot({ dir, users, tls: options.tls, pop3: options.pop3, oauth2IntrospectionUrl: options.oauth2IntrospectionUrl, logger: testLogger });
  return {
    dovecot,
    stop: async () => {
      await dovecot.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function newSecretKey(): Buffer {
  return parseSecretKey(generateSecretKey());
}

/** Polls `check` every 200 ms until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(description: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
