import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { redactedPaths } from '../../src/logger.js';
import { newSecretKey, startTestDatabase, type TestDatabase } from '../support/environment.js';
import { call, createUserWithToken, startTestApi, unreachableTemporal, type TestApi } from './api-environment.js';

const IMAP_PASSWORD = 'imap-password-that-must-not-be-logged';
const NEW_PASSWORD = 'replacement-password-that-must-not-be-logged';

let database: TestDatabase;
let api: TestApi;
let adminToken: string;
const lines: string[] = [];

before(async () => {
  database = await startTestDatabase();
  // Every level, into memory, with the redaction of the production logger.
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = pino({ level: 'trace', redact: { paths: redactedPaths, censor: '[redacted]' } }, sink);
  api = await startTestApi({ db: database.db, temporal: unreachableTemporal(), secretKey: newSecretKey(), logger });
  adminToken = (await createUserWithToken(database.db, 'root', 'admin')).token;
});

after(async () => {
  await api?.stop();
  await database?.stop();
});

test('requests with passwords and tokens leave neither in the log', async () => {
  const created = await call(api.app, adminToken, 'POST', '/queues', { title: 'Support', incoming: { host: '127.0.0.1', port: 1, user: 'support@example.com', password: IMAP_PASSWORD, ssl: false } });
  assert.equal(created.statusCode, 201, created.body);
  const invalid = await call(api.app, adminToken, 'POST', '/queues', { title: ' ', incoming: { host: 'bad host', user: 'x', password: IMAP_PASSWORD } });
  assert.equal(invalid.statusCode, 400);
  const wrongSide = await call(api.app, adminToken, 'PUT', '/queues/1/credentials/outgoing', { password: NEW_PASSWORD });
  assert.equal(wrongSide.statusCode, 400, 'a queue without outgoing server has no outgoing password');

  const log = lines.join('');
  assert.match(log, /incoming request/, 'the requests were logged');
  assert.match(log, /api request rejected/, 'the rejected request was logged');
  assert.ok(!log.includes(IMAP_PASSWORD), 'no queue password in the log');
  assert.ok(!log.includes(NEW_PASSWORD), 'no replacement password in the log');
  assert.ok(!log.includes(adminToken), 'no token in the log');
});
