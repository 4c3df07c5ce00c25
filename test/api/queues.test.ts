import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { queryQueueStatus } from '../../src/client/queue-control.js';
import { createIntegration } from '../../src/db/oauth.js';
import { findQueueByNumber, loadImapConnection, loadSmtpConnection } from '../../src/db/queues.js';
import { newSecretKey, startTestDatabase, startTestTemporal, startTestWorker, waitFor, type RunningWorker, type TestDatabase, type TestTemporal } from '../support/environment.js';
import { call, createUserWithToken, errorOf, startTestApi, type TestApi } from './api-environment.js';

let database: TestDatabase;
let temporal: TestTemporal;
let worker: RunningWorker;
let api: TestApi;
let adminToken: string;
const secretKey = newSecretKey();

const IMAP_PASSWORD = 'first-imap-password';
const SMTP_PASSWORD = 'first-smtp-password';

// Nothing listens on port 1, so the workflow runs and serves queries while its fetches fail.
const queueDocument = {
  title: 'Support',
  category: 'Support',
  incoming: { host: '127.0.0.1', port: 1, user: 'support@example.com', password: IMAP_PASSWORD, ssl: false, sslTrusted: false },
  outgoing: { host: '127.0.0.1', port: 1, user: 'sender', password: SMTP_PASSWORD, security: 'none' },
};

before(async () => {
  database = await startTestDatabase();
  temporal = await startTestTemporal();
  worker = await startTestWorker({ temporalAddress: temporal.address, db: database.db, secretKey });
  api = await startTestApi({ db: database.db, temporal: temporal.client, secretKey });
  adminToken = (await createUserWithToken(database.db, 'root', 'admin')).token;
});

after(async () => {
  await api?.stop();
  await worker?.stop();
  await temporal?.stop();
  await database?.stop();
});

/** Polls the status route until the workflow reports `active`. */
async function waitForActive(number: number, active: boolean): Promise<void> {
  await waitFor(`queue ${number} to report active=${active}`, async () => {
    const body = (await call(api.app, adminToken, 'GET', `/queues/${number}/status`)).json() as { running: boolean; status: { active: boolean; number: number | null } | null };
    return body.running && body.status?.number === number && body.status.active === active ? true : undefined;
  });
}

test('a queue goes through create, pause, resume, password change, update and delete', async () => {
  const created = await call(api.app, adminToken, 'POST', '/queues?start=true', queueDocument);
  assert.equal(created.statusCode, 201, created.body);
  assert.ok(!created.body.includes(IMAP_PASSWORD), 'no IMAP password in the response');
  assert.ok(!created.body.includes(SMTP_PASSWORD), 'no SMTP password in the response');
  const queue = created.json() as { number: number; active: boolean; incoming: Record<string, unknown>; workflowId: string };
  assert.equal(queue.number, 1);
  assert.equal(queue.workflowId, 'email-queue-1');
  assert.equal('password' in queue.incoming, false);
  await waitForActive(1, true);

  const paused = await call(api.app, adminToken, 'POST', '/queues/1/pause');
  assert.deepEqual(paused.json(), { number: 1, active: false, running: true });
  await waitForActive(1, false);
  assert.equal((await findQueueByNumber(database.db, 1))?.active, false);

  const resumed = await call(api.app, adminToken, 'POST', '/queues/1/resume');
  assert.deepEqual(resumed.json(), { number: 1, active: true, running: true });
  await waitForActive(1, true);

  const incoming = await call(api.app, adminToken, 'PUT', '/queues/1/credentials/incoming', { password: 'second-imap-password' });
  assert.equal(incoming.statusCode, 204);
  const outgoing = await call(api.app, adminToken, 'PUT', '/queues/1/credentials/outgoing', { password: 'second-smtp-password' });
  assert.equal(outgoing.statusCode, 204);
  const stored = await findQueueByNumber(database.db, 1);
  assert.ok(stored);
  assert.equal((await loadImapConnection(database.db, secretKey, stored)).password, 'second-imap-password');
  assert.equal((await loadSmtpConnection(database.db, secretKey, stored)).password, 'second-smtp-password');

  const updated = await call(api.app, adminToken, 'PUT', '/queues/1', { ...queueDocument, title: 'Customer support', pollIntervalSeconds: 120 });
  assert.equal(updated.statusCode, 200, updated.body);
  assert.deepEqual([(updated.json() as { title: string }).title, (updated.json() as { pollIntervalSeconds: number }).pollIntervalSeconds], ['Customer support', 120]);
  const listed = (await call(api.app, adminToken, 'GET', '/queues')).json() as Array<{ number: number; title: string }>;
  assert.deepEqual(listed.map((entry) => [entry.number, entry.title]), [[1, 'Customer support']]);

  const deleted = await call(api.app, adminToken, 'DELETE', '/queues/1');
  assert.equal(deleted.statusCode, 204);
  assert.deepEqual((await call(api.app, adminToken, 'GET', '/queues')).json(), []);
  const shown = (await call(api.app, adminToken, 'GET', '/queues/1')).json() as { deletedAt: string | null };
  assert.ok(shown.deletedAt !== null, 'a deleted queue still shows, with its deletion time');
});

test('the suggested number skips deleted queues and a taken number is a conflict', async () => {
  const suggestion = await call(api.app, adminToken, 'GET', '/queues/suggest-number');
  assert.deepEqual(suggestion.json(), { number: 2 });

  const reused = await call(api.app, adminToken, 'POST', '/queues', { ...queueDocument, number: 1 });
  assert.equal(reused.statusCode, 409);
  assert.deepEqual([errorOf(reused).code, errorOf(reused).field], ['conflict', 'body.number']);
});

test('a missing queue answers 404 on every queue route', async () => {
  for (const [method, url, body] of [
    ['GET', '/queues/99', undefined],
    ['PUT', '/queues/99', queueDocument],
    ['DELETE', '/queues/99', undefined],
    ['POST', '/queues/99/pause', undefined],
    ['GET', '/queues/99/status', undefined],
    ['PUT', '/queues/99/credentials/incoming', { password: 'x' }],
  ] as const) {
    const response = await call(api.app, adminToken, method, url, body);
    assert.equal(response.statusCode, 404, `${method} ${url}: ${response.body}`);
    assert.equal(errorOf(response).code, 'not_found');
  }
});

test('an update without passwords keeps the stored ones', async () => {
  const created = await call(api.app, adminToken, 'POST', '/queues', { ...queueDocument, title: 'Keeps passwords' });
  assert.equal(created.statusCode, 201, created.body);
  const number = (created.json() as { number: number }).number;

  const { password: _incoming, ...incoming } = queueDocument.incoming;
  const { password: _outgoing, ...outgoing } = queueDocument.outgoing;
  const updated = await call(api.app, adminToken, 'PUT', `/queues/${number}`, { ...queueDocument, title: 'Kept passwords', incoming, outgoing });
  assert.equal(updated.statusCode, 200, updated.body);

  const stored = await findQueueByNumber(database.db, number);
  assert.ok(stored);
  assert.equal(stored.title, 'Kept passwords');
  assert.equal((await loadImapConnection(database.db, secretKey, stored)).password, IMAP_PASSWORD);
  assert.equal((await loadSmtpConnection(database.db, secretKey, stored)).password, SMTP_PASSWORD);

  const newUser = await call(api.app, adminToken, 'PUT', `/queues/${number}`, { ...queueDocument, incoming, outgoing: { ...outgoing, user: 'another-sender' } });
  assert.equal(newUser.statusCode, 400);
  assert.equal(errorOf(newUser).field, 'body.outgoing.password');
});

test('a queue that sends without login has no outgoing password to set', async () => {
  const created = await call(api.app, adminToken, 'POST', '/queues', { ...queueDocument, title: 'No login', outgoing: { host: '127.0.0.1', port: 1 } });
  assert.equal(created.statusCode, 201, created.body);
  const number = (created.json() as { number: number }).number;
  const response = await call(api.app, adminToken, 'PUT', `/queues/${number}/credentials/outgoing`, { password: 'unused' });
  assert.equal(response.statusCode, 400);
  assert.match(errorOf(response).message, /sends without login/);
});

/** Returns every key path of a JSON value, such as `dispatch.waiting`, sorted. Array items are not descended into. */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value as Record<string, unknown>)
    .flatMap(([key, child]) => [`${prefix}${key}`, ...keyPaths(child, `${prefix}${key}.`)])
    .sort();
}

test('pop3 queue status keeps every field', async () => {
  const created = await call(api.app, adminToken, 'POST', '/queues?start=true', {
    title: 'POP3 support',
    incoming: { protocol: 'pop3', host: '127.0.0.1', port: 1, user: 'pop@example.com', password: 'pop3-password', ssl: false, dontKeepEmails: true },
    agents: { wrapUpSeconds: 20, offerTimeoutSeconds: 60 },
  });
  assert.equal(created.statusCode, 201, created.body);
  const queue = created.json() as { number: number; incoming: Record<string, unknown>; agents: Record<string, unknown> };
  assert.deepEqual([queue.incoming.protocol, queue.incoming.dontKeepEmails, queue.agents.wrapUpSeconds, queue.agents.offerTimeoutSeconds], ['pop3', true, 20, 60]);
  assert.ok(!created.body.includes('pop3-password'));

  const status = await waitFor('the pop3 queue to report its number', async () => {
    const body = (await call(api.app, adminToken, 'GET', `/queues/${queue.number}/status`)).json() as { status: Record<string, unknown> | null };
    return body.status?.number === queue.number ? body.status : undefined;
  });
  assert.ok('dispatch' in status, 'status has dispatch');
  assert.ok('degraded' in status, 'status has degraded');
  assert.ok('account' in status, 'status has account');
  assert.deepEqual(keyPaths(status.dispatch), ['lastDispatchAt', 'nextOfferExpiresAt', 'waiting']);

  const direct = await queryQueueStatus(temporal.client, queue.number);
  assert.deepEqual(keyPaths(status), keyPaths(direct));
});

test('OAuth2 queue read back updates', async () => {
  await createIntegration(database.db, secretKey, { name: 'workspace', provider: 'google', tenant: null, clientId: 'client', clientSecret: 'client-secret', redirectUri: 'http://127.0.0.1:8765/oauth/callback' });
  const created = await call(api.app, adminToken, 'POST', '/queues', {
    title: 'Gmail support',
    incoming: { protocol: 'gmail', integration: 'workspace', user: 'support@example.com' },
    outgoing: { useSameMethodAsIncoming: true },
  });
  assert.equal(created.statusCode, 201, created.body);
  const queue = created.json() as { number: number; title: string; incoming: Record<string, unknown>; outgoing: Record<string, unknown>; agents: Record<string, unknown> };
  assert.deepEqual(queue.incoming, { protocol: 'gmail', integration: 'workspace', user: 'support@example.com', dontKeepEmails: false });
  assert.deepEqual(queue.outgoing, { protocol: 'gmail', useSameMethodAsIncoming: true });

  const readBack = await call(api.app, adminToken, 'PUT', `/queues/${queue.number}`, { title: 'Gmail desk', incoming: queue.incoming, outgoing: queue.outgoing, agents: queue.agents });
  assert.equal(readBack.statusCode, 200, readBack.body);
  assert.equal((readBack.json() as { title: string }).title, 'Gmail desk');
});
