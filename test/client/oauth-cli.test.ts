import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { loadClientSettings } from '../../src/db/oauth.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { findFreePort } from '../../src/dev/ports.js';
import { validateQueueConfig } from '../../src/domain/queue-config.js';
import { generateSecretKey, parseSecretKey } from '../../src/secrets.js';
import { startTestDatabase, waitFor, type TestDatabase } from '../support/environment.js';
import { startFakeOAuthServer, type FakeOAuthServer } from '../support/fake-oauth.js';
import { cliPath, mailqueueEnvironment, runCli } from './cli-process.js';

describe('mailqueue oauth', () => {
  let database: TestDatabase;
  let fake: FakeOAuthServer;
  let workDir: string;
  let env: NodeJS.ProcessEnv;
  let redirectUri: string;
  const secretHex = generateSecretKey();
  let queue: QueueRecord;

  before(async () => {
    database = await startTestDatabase();
    redirectUri = `http://127.0.0.1:${await findFreePort()}/oauth/callback`;
    fake = await startFakeOAuthServer({ redirectUri });
    workDir = await mkdtemp(join(tmpdir(), 'mq-oauth-cli-'));
    await writeFile(join(workDir, 'secret.txt'), `${fake.clientSecret}\n`, { mode: 0o600 });
    env = mailqueueEnvironment({ DATABASE_URL: database.url, MAILQUEUE_SECRET_KEY: secretHex, MAILQUEUE_OAUTH_CA_FILE: fake.caFile });
  });

  after(async () => {
    await fake?.close();
    await database?.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  test('integrations add reads the secret from a file', async () => {
    const added = await runCli(['oauth', 'integrations', 'add', '--name', 'contoso', '--provider', 'microsoft', '--tenant', 'contoso.example', '--client-id', fake.clientId, '--redirect-uri', redirectUri, '--client-secret-file', join(workDir, 'secret.txt'), '--authority-url', fake.tlsUrl], env);
    assert.equal(added.code, 0, added.stderr);

    const listed = await runCli(['oauth', 'integrations', 'list', '--json'], env);
    assert.equal(listed.code, 0, listed.stderr);
    const [integration] = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    assert.equal(integration.name, 'contoso');
    assert.equal(integration.clientId, fake.clientId);
    assert.ok(!listed.stdout.includes(fake.clientSecret));

    const { config, errors } = validateQueueConfig({ number: 5, title: 'CLI desk', incoming: { protocol: 'imap-oauth2', provider: 'microsoft', integration: 'contoso', user: 'support@example.com' } });
    assert.deepEqual(errors, []);
    assert.ok(config);
    queue = await createQueue(database.db, parseSecretKey(secretHex), config);
  });

  test('integrations add reads the secret from stdin', async () => {
    const child = spawn(process.execPath, [cliPath, 'oauth', 'integrations', 'add', '--name', 'google', '--provider', 'google', '--client-id', 'google-client', '--redirect-uri', redirectUri, '--json'], { env });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.stdin.end('piped-google-secret\n');

    assert.equal(await exited, 0);
    assert.equal((JSON.parse(stdout) as { provider: string }).provider, 'google');
    assert.ok(!stdout.includes('piped-google-secret'));
    const row = await database.db('oauth_integrations').where({ name: 'google' }).first('id');
    assert.equal((await loadClientSettings(database.db, parseSecretKey(secretHex), row.id)).clientSecret, 'piped-google-secret');
  });

  test('microsoft integration without tenant is rejected', async () => {
    const added = await runCli(['oauth', 'integrations', 'add', '--name', 'no-tenant', '--provider', 'microsoft', '--client-id', 'x', '--redirect-uri', redirectUri, '--client-secret-file', join(workDir, 'secret.txt')], env);

    assert.equal(added.code, 1);
    assert.match(added.stderr, /tenant is missing/);
  });

  test('connect then callback connects the queue', async () => {
    const connect = await runCli(['oauth', 'connect', '--queue', String(queue.number), '--json'], env);
    assert.equal(connect.code, 0, connect.stderr);
    const { url, state } = JSON.parse(connect.stdout) as { url: string; state: string };
    assert.equal(new URL(url).searchParams.get('state'), state);

    const location = (await fake.openInBrowser(url)).headers.get('location') ?? '';
    const callback = await runCli(['oauth', 'callback', location], env);

    assert.equal(callback.code, 0, callback.stderr);
    assert.match(callback.stdout, /Connected support@example\.com to queue 5/);
    const status = await runCli(['oauth', 'status', '--queue', '5', '--json'], env);
    const parsed = JSON.parse(status.stdout) as { connections: Array<{ purpose: string; state: string }> };
    assert.deepEqual(parsed.connections.map((row) => [row.purpose, row.state]), [['incoming', 'connected']]);
  });

  test('admin approval answer lists permissions', async () => {
    fake.requireAdminApproval = true;
    const connect = await runCli(['oauth', 'connect', '--queue', '5', '--json'], env);
    const { url } = JSON.parse(connect.stdout) as { url: string };
    const location = (await fake.openInBrowser(url)).headers.get('location') ?? '';

    const callback = await runCli(['oauth', 'callback', location], env);

    assert.equal(callback.code, 1);
    assert.match(callback.stderr, /admin approval/);
    assert.match(callback.stderr, /https:\/\/outlook\.office\.com\/IMAP\.AccessAsUser\.All/);
    assert.match(callback.stderr, /\/contoso\.example\/v2\.0\/adminconsent\?client_id=/);
  });

  test('connect --listen completes on the loopback redirect', async () => {
    const child = spawn(process.execPath, [cliPath, 'oauth', 'connect', '--queue', '5', '--listen'], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    const url = await waitFor('the sign-in URL', async () => /^\s+(http\S+)$/m.exec(stdout)?.[1], 15_000);
    const location = (await fake.openInBrowser(url)).headers.get('location') ?? '';
    const page = await waitFor('the CLI listener', async () => fetch(location).then((response) => response.text()).catch(() => undefined), 10_000);

    assert.match(page, /received the sign-in/);
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /Connected support@example\.com to queue 5/);
  });
});
