import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { createApiToken, findUserByApiToken } from '../../src/db/api-tokens.js';
import { createUser } from '../../src/db/users.js';
import { ensureFirstAdmin } from '../../src/dev/first-admin.js';
import { generateSecretKey } from '../../src/secrets.js';
import { cliPath, mailqueueEnvironment } from '../client/cli-process.js';
import { startTestDatabase, startTestTemporal, waitFor, type TestDatabase, type TestTemporal } from '../support/environment.js';

let database: TestDatabase;
let temporal: TestTemporal;
let child: ChildProcess | null = null;

before(async () => {
  database = await startTestDatabase();
  temporal = await startTestTemporal();
});

after(async () => {
  if (child !== null && child.exitCode === null) child.kill('SIGKILL');
  await temporal?.stop();
  await database?.stop();
});

test('first admin created only once', async () => {
  const first = await ensureFirstAdmin(database.db);
  assert.ok(first !== null);
  assert.equal(first.alias, 'admin');
  const found = await findUserByApiToken(database.db, first.token);
  assert.deepEqual([found?.user.alias, found?.user.role], ['admin', 'admin']);
  assert.equal(await ensureFirstAdmin(database.db), null);
});

test('`mailqueue api` serves the API, never logs the token, and stops on SIGTERM', async () => {
  const admin = await createUser(database.db, { alias: 'ops', email: 'ops@helpdesk.example.com', role: 'admin' });
  const bearer = (await createApiToken(database.db, admin.id, 'cli test')).token;

  let output = '';
  child = spawn(process.execPath, [cliPath, 'api', '--port', '0'], {
    env: mailqueueEnvironment({ DATABASE_URL: database.url, TEMPORAL_ADDRESS: temporal.address, MAILQUEUE_SECRET_KEY: generateSecretKey(), LOG_LEVEL: 'info' }),
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));

  const url = await waitFor('the API to print its address', async () => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1], 30_000);
  const documentResponse = await fetch(`${url}/openapi.json`);
  assert.equal(documentResponse.status, 200);
  const me = await fetch(`${url}/me`, { headers: { authorization: `Bearer ${bearer}` } });
  assert.equal(me.status, 200);
  assert.equal(((await me.json()) as { alias: string }).alias, 'ops');
  assert.equal((await fetch(`${url}/me`)).status, 401);

  const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(output, /"msg":"api stopped"/);
  assert.ok(!output.includes(bearer), 'the token appears in no log line');
});
