import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import pg from 'pg';

import { startEmbeddedPostgres } from '../../src/dev/embedded-postgres.js';

async function query(url: string, sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

function postmasterPid(dataDir: string): number {
  return Number.parseInt(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
}

async function waitForExit(pid: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`process ${pid} did not exit`);
}

describe('embedded PostgreSQL', () => {
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'mq-pg-'));
    // The server runs as the `postgres` user when started as root, and must enter this directory.
    await chmod(workDir, 0o755);
  });

  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  test('restart on same dir keeps data', async () => {
    const dataDir = join(workDir, 'kept');
    const first = await startEmbeddedPostgres({ dataDir, persistent: true, database: 'kept_db' });
    await query(first.url, 'CREATE TABLE note (body text)');
    await query(first.url, 'INSERT INTO note VALUES ($1)', ['survives a restart']);
    await first.stop();

    const second = await startEmbeddedPostgres({ dataDir, persistent: true, database: 'kept_db' });
    try {
      const result = await query(second.url, 'SELECT body FROM note');
      assert.deepEqual(result.rows, [{ body: 'survives a restart' }]);
    } finally {
      await second.stop();
    }
  });

  test('password file is private', async () => {
    const info = await stat(join(workDir, 'kept.password'));

    assert.equal(info.mode & 0o777, 0o600);
  });

  test('killed server restarts after stale pid', async () => {
    const dataDir = join(workDir, 'killed');
    const first = await startEmbeddedPostgres({ dataDir, persistent: true });
    await query(first.url, 'CREATE TABLE survivor (id int)');
    const pid = postmasterPid(dataDir);
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid);
    assert.ok(existsSync(join(dataDir, 'postmaster.pid')), 'a killed postmaster leaves its pid file');

    const second = await startEmbeddedPostgres({ dataDir, persistent: true });
    try {
      const result = await query(second.url, "SELECT to_regclass('survivor') IS NOT NULL AS present");
      assert.deepEqual(result.rows, [{ present: true }]);
      // The first handle must not stop the new server or hang.
      await first.stop();
      const still = await query(second.url, 'SELECT 1 AS alive');
      assert.deepEqual(still.rows, [{ alive: 1 }]);
    } finally {
      await second.stop();
    }
  });

  test('non-persistent stop removes data', async () => {
    const dataDir = join(workDir, 'throwaway');
    const server = await startEmbeddedPostgres({ dataDir, persistent: false });
    await query(server.url, 'SELECT 1');
    await server.stop();

    assert.equal(existsSync(dataDir), false);
  });
});
