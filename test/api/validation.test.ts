import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { newSecretKey, startTestDatabase, type TestDatabase } from '../support/environment.js';
import { call, createUserWithToken, errorOf, startTestApi, unreachableTemporal, type TestApi } from './api-environment.js';

let database: TestDatabase;
let api: TestApi;
let adminToken: string;

const validQueue = {
  title: 'Support',
  incoming: { host: '127.0.0.1', port: 1143, user: 'support@example.com', password: 'imap-secret', ssl: false, sslTrusted: false },
};

before(async () => {
  database = await startTestDatabase();
  api = await startTestApi({ db: database.db, temporal: unreachableTemporal(), secretKey: newSecretKey() });
  adminToken = (await createUserWithToken(database.db, 'root', 'admin')).token;
});

after(async () => {
  await api?.stop();
  await database?.stop();
});

/** Sends `body` and returns the fields that the 400 response names. */
async function rejectedFields(method: string, url: string, body: unknown): Promise<string[]> {
  const response = await call(api.app, adminToken, method, url, body);
  assert.equal(response.statusCode, 400, `${method} ${url}: ${response.body}`);
  const error = errorOf(response);
  assert.equal(error.code, 'validation_failed');
  assert.ok(error.field, 'the error names a field');
  const errors = (error.details?.errors ?? []) as Array<{ field: string; message: string }>;
  for (const entry of errors) assert.ok(entry.message.length > 0, `${entry.field} has a message`);
  return errors.map((entry) => entry.field);
}

test('a queue with a port out of range names body.incoming.port', async () => {
  const fields = await rejectedFields('POST', '/queues', { ...validQueue, incoming: { ...validQueue.incoming, port: 70000 } });
  assert.deepEqual(fields, ['body.incoming.port']);
});

test('incoming that is no object names body.incoming', async () => {
  const fields = await rejectedFields('POST', '/queues', { ...validQueue, incoming: 'AAA' });
  assert.deepEqual(fields, ['body.incoming']);
});

test('unknown incoming protocol names body.incoming.protocol', async () => {
  const response = await call(api.app, adminToken, 'POST', '/queues', { ...validQueue, incoming: { ...validQueue.incoming, protocol: 'smoke-signals' } });
  assert.equal(response.statusCode, 400);
  assert.equal(errorOf(response).field, 'body.incoming.protocol');
  assert.match(errorOf(response).message, /"smoke-signals", which names no known protocol/);
});

test('a queue without title and with an unknown field names both', async () => {
  const { title: _title, ...withoutTitle } = validQueue;
  const fields = await rejectedFields('POST', '/queues', { ...withoutTitle, colour: 'blue' });
  assert.deepEqual(fields.sort(), ['body.colour', 'body.title']);
});

test('a blank title that only the queue rules catch names body.title', async () => {
  const fields = await rejectedFields('POST', '/queues', { ...validQueue, title: '   ' });
  assert.deepEqual(fields, ['body.title']);
});

test('a login without password on the outgoing server names body.outgoing.password', async () => {
  const fields = await rejectedFields('POST', '/queues', { ...validQueue, outgoing: { host: '127.0.0.1', user: 'sender' } });
  assert.deepEqual(fields, ['body.outgoing.password']);
});

test('a template of an unknown kind names body.kind', async () => {
  const fields = await rejectedFields('POST', '/templates', { name: 'greeting', kind: 'poem', text: 'Hello' });
  assert.deepEqual(fields, ['body.kind']);
});

test('a queue number that is not a number names params.number', async () => {
  const response = await call(api.app, adminToken, 'GET', '/queues/abc');
  assert.equal(response.statusCode, 400);
  assert.equal(errorOf(response).field, 'params.number');
});

test('an unknown query parameter names querystring.colour', async () => {
  const response = await call(api.app, adminToken, 'GET', '/queues?colour=blue');
  assert.equal(response.statusCode, 400);
  assert.equal(errorOf(response).field, 'querystring.colour');
});

test('a body that is not JSON is a validation error of body', async () => {
  const response = await api.app.inject({ method: 'POST', url: '/statuses', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, payload: '{"name": ' });
  assert.equal(response.statusCode, 400);
  assert.equal(errorOf(response).field, 'body');
});

test('a duplicate status is a conflict naming body.name', async () => {
  const response = await call(api.app, adminToken, 'POST', '/statuses', { name: 'open' });
  assert.equal(response.statusCode, 409);
  assert.deepEqual({ code: errorOf(response).code, field: errorOf(response).field }, { code: 'conflict', field: 'body.name' });
});

test('time group with unknown time zone', async () => {
  const response = await call(api.app, adminToken, 'POST', '/time-groups', { name: 'office', timeZone: 'Mars/Olympus', weekly: [], exceptions: [] });
  assert.equal(response.statusCode, 400);
  const error = errorOf(response);
  assert.equal(error.code, 'validation_failed');
  assert.match(error.message, /Mars\/Olympus/);
});

test('a user with an invalid email names body.email', async () => {
  const fields = await rejectedFields('POST', '/users', { alias: 'karel', email: 'not-an-address' });
  assert.deepEqual(fields, ['body.email']);
});

test('a view with an unknown priority names the filter entry', async () => {
  const fields = await rejectedFields('POST', '/views', { name: 'Hot', definition: { filters: { priorities: ['burning'] } } });
  assert.deepEqual(fields, ['body.definition.filters.priorities.0']);
});

test('a reply without text names body.text', async () => {
  const fields = await rejectedFields('POST', '/tickets/1/replies', { html: '<p>Hello</p>' });
  assert.deepEqual(fields, ['body.text']);
});
