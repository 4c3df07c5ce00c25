import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Knex } from 'knex';
import { readEnvironment, type Environment } from '../config.js';
import { createDatabase } from '../db/knex.js';
import { repoRoot } from '../dev/tools.js';
import { parseSecretKey } from '../secrets.js';

/** Folder of the dev stack's state: MAILQUEUE_VAR_DIR, else `var/` in the repository. */
export function varDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return env.MAILQUEUE_VAR_DIR ?? join(repoRoot, 'var');
}

/** File where a running dev stack writes its addresses, so CLI commands in another terminal find it. */
export function devEnvironmentFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(varDirectory(env), 'dev.env');
}

/** Reads `KEY=VALUE` lines; blank lines and `#` comments are ignored. */
export function readEnvFile(path: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const equals = trimmed.indexOf('=');
    if (equals > 0) values[trimmed.slice(0, equals)] = trimmed.slice(equals + 1);
  }
  return values;
}

/**
 * Reads the environment for client commands: the process environment, with values a
 * running dev stack wrote to `var/dev.env` filling whatever is not set.
 */
export function clientEnvironment(): Environment {
  const file = devEnvironmentFile();
  const fromDevStack = existsSync(file) ? readEnvFile(file) : {};
  return readEnvironment({ ...fromDevStack, ...process.env });
}

/** Lazily opened connections for one CLI command; `close()` releases them. */
export class CliContext {
  readonly env: Environment;
  private database: Knex | null = null;
  private temporalClient: Client | null = null;

  constructor(env: Environment = clientEnvironment()) {
    this.env = env;
  }

  db(): Knex {
    if (this.database === null) {
      const url = this.env.DATABASE_URL;
      if (url === undefined) {
        throw new Error('DATABASE_URL is not set: start the dev stack with `npm start`, or set DATABASE_URL to your PostgreSQL server');
      }
      this.database = createDatabase(url, { poolMax: 4 });
    }
    return this.database;
  }

  secretKey(): Buffer {
    const value = this.env.MAILQUEUE_SECRET_KEY;
    if (value === undefined) {
      throw new Error('MAILQUEUE_SECRET_KEY is not set: it encrypts mailbox passwords. Generate one with `openssl rand -hex 32` and use the same key for the worker');
    }
    return parseSecretKey(value);
  }

  async temporal(): Promise<Client> {
    if (this.temporalClient === null) {
      const address = this.env.TEMPORAL_ADDRESS;
      if (address === undefined) {
        throw new Error('TEMPORAL_ADDRESS is not set: start the dev stack with `npm start`, or set TEMPORAL_ADDRESS to your Temporal frontend (host:port)');
      }
      const connection = await Connection.connect({ address });
      this.temporalClient = new Client({ connection, namespace: this.env.TEMPORAL_NAMESPACE });
    }
    return this.temporalClient;
  }

  async close(): Promise<void> {
    if (this.temporalClient !== null) {
      await this.temporalClient.connection.close();
    }
    if (this.database !== null) {
      await this.database.destroy();
    }
  }
}
