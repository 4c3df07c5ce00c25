import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { importMessages } from '../../src/activities/import.js';
import { createCategory } from '../../src/db/categories.js';
import { createActivitiesForQueue } from '../../src/db/email-activities.js';
import { createIntegration } from '../../src/db/oauth.js';
import { allowQueueAgent } from '../../src/db/queue-agents.js';
import { createHelpdesk } from '../../src/db/helpdesks.js';
import { createRoutingRule } from '../../src/db/routing-rules.js';
import { createQueue } from '../../src/db/queues.js';
import { createTemplate } from '../../src/db/templates.js';
import { createTimeGroup } from '../../src/db/time-groups.js';
import { grantCategory } from '../../src/db/users.js';
import { createView } from '../../src/db/views.js';
import { findSchemathesis } from '../../src/dev/tools.js';
import { queueConfigSchema } from '../../src/domain/queue-config.js';
import { newSecretKey, startTestDatabase, testLogger, startTestTemporal, startTestWorker, type RunningWorker, type TestDatabase, type TestTemporal } from '../support/environment.js';
import { createUserWithToken, startTestApi, type TestApi } from './api-environment.js';

const run = promisify(execFile);

const mailWithAttachment = Buffer.from(
  [
    'From: Karel <karel@customer.example>',
    'To: support@example.com',
    'Subject: Invoice',
    'Message-ID: <fuzz-1@customer.example>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'The invoice is attached.',
    '--b1',
    'Content-Type: application/pdf; name="invoice.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('%PDF-1.4 invoice').toString('base64'),
    '--b1--',
    '',
  ].join('\r\n'),
);

/** Examples per operation: enough to reach every branch of the schemas, bounded to keep the run near a minute. */
const EXAMPLES_PER_OPERATION = 8;

let schemathesis: string | null = null;
let skipReason = '';
try {
  schemathesis = findSchemathesis();
} catch (error) {
  skipReason = `schemathesis is not installed (${(error as Error).message})`;
}

let database: TestDatabase;
let temporal: TestTemporal;
let worker: RunningWorker;
let api: TestApi;
let adminToken: string;
let workDir: string;

before(async () => {
  if (schemathesis === null) return;
  const secretKey = newSecretKey();
  database = await startTestDatabase();
  temporal = await startTestTemporal();
  worker = await startTestWorker({ temporalAddress: temporal.address, db: database.db, secretKey });
  api = await startTestApi({ db: database.db, temporal: temporal.client, secretKey });
  const admin = await createUserWithToken(database.db, 'root', 'admin');
  adminToken = admin.token;
  workDir = await mkdtemp(join(tmpdir(), 'mq-fuzz-'));

  // Records the generated requests can find, so not every request ends in a 404.
  await createCategory(database.db, { name: 'Support' });
  await createTemplate(database.db, { name: 'default', kind: 'signature', text: '-- \n{{user.name}}' });
  await createTimeGroup(database.db, { name: 'default', timeZone: 'Europe/Prague', weekly: [{ day: 1, open: '08:00', close: '16:00' }], exceptions: [] });
  const queue = await createQueue(
    database.db,
    secretKey,
    queueConfigSchema.parse({ number: 1, title: 'Support', category: 'Support', incoming: { host: '127.0.0.1', port: 1, user: 'support@example.com', password: 'fuzz-password', ssl: false, sslTrusted: false } }),
  );
  await importMessages(database.db, queue, [mailWithAttachment], {}, testLogger);
  await grantCategory(database.db, admin.user.id, 'Support');
  await createUserWithToken(database.db, 'jana', 'agent');
  await createHelpdesk(database.db, { name: 'default' });
  await createView(database.db, { name: 'Support', ownerUserId: admin.user.id, definition: { filters: { categories: ['Support'] } } });
  await createRoutingRule(database.db, { name: 'Urgent', conditions: [{ field: 'subject', operator: 'startsWith', value: 'URGENT' }], actions: [{ type: 'setPriority', priority: 'urgent' }] });
  await createActivitiesForQueue(database.db, queue.id, testLogger);
  await allowQueueAgent(database.db, queue.id, admin.user.id);
  await createIntegration(database.db, secretKey, { name: 'workspace', provider: 'google', tenant: null, clientId: 'client', clientSecret: 'fuzz-client-secret', redirectUri: 'http://127.0.0.1:8765/oauth/callback' });
  await createQueue(database.db, secretKey, queueConfigSchema.parse({ number: 2, title: 'Gmail', incoming: { protocol: 'gmail', integration: 'workspace', user: 'gmail@example.com' }, outgoing: { useSameMethodAsIncoming: true } }));
  await api.app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await api?.stop();
  await worker?.stop();
  await temporal?.stop();
  await database?.stop();
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

test('the fuzzer finds no server error on any route', { skip: schemathesis === null ? skipReason : false, timeout: 240_000 }, async (context) => {
  const { port } = api.app.server.address() as AddressInfo;
  const args = [
    'run',
    `http://127.0.0.1:${port}/openapi.json`,
    '--checks',
    'not_a_server_error',
    '--header',
    `Authorization: Bearer ${adminToken}`,
    '--max-examples',
    String(EXAMPLES_PER_OPERATION),
    '--seed',
    '20261204',
    '--workers',
    '1',
    '--request-timeout',
    '20',
    '--generation-database',
    'none',
    '--no-color',
  ];
  let output: string;
  try {
    const result = await run(schemathesis as string, args, { cwd: workDir, maxBuffer: 64 * 1024 * 1024, timeout: 220_000, env: { ...process.env, SCHEMATHESIS_TELEMETRY: 'false' } });
    output = result.stdout;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; code?: number };
    assert.fail(`schemathesis exited with ${failed.code}:\n${failed.stdout ?? ''}\n${failed.stderr ?? ''}`);
  }
  context.diagnostic(output.trim().split('\n').slice(-25).join('\n'));
  assert.match(output, /passed/i, output);
  assert.doesNotMatch(output, /Server error/i, output);
});
