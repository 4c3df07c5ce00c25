import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';

import { QueryNotRegisteredError } from '@temporalio/client';
import { pino } from 'pino';

import { queryQueueStatus, signalConfigChanged, signalMailArrived, startQueueWorkflow } from '../../src/client/queue-control.js';
import { createIntegration } from '../../src/db/oauth.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { validateQueueConfig } from '../../src/domain/queue-config.js';
import { completeAuthorization, startAuthorization } from '../../src/oauth/connect.js';
import { createWorker } from '../../src/worker.js';
import type { QueueStatus } from '../../src/workflows/queue-definitions.js';
import { queueDegradedKey } from '../../src/workflows/search-attributes.js';
import {
  newSecretKey,
  startTestDatabase,
  startTestDovecot,
  startTestTemporal,
  testLogger,
  waitFor,
  type TestDatabase,
  type TestMailServer,
  type TestTemporal,
} from '../support/environment.js';
import { startFakeOAuthServer, type FakeOAuthServer } from '../support/fake-oauth.js';
import { appendMessages } from '../support/imap-admin.js';
import { countRows, historyJson, workflowIdOf } from './fixtures.js';

const redirectUri = 'http://127.0.0.1:8768/oauth/callback';
const account = 'oauth-desk@example.com';
const queueNumber = 71;

describe('degraded OAuth2 queue', () => {
  let database: TestDatabase;
  let temporal: TestTemporal;
  let mail: TestMailServer;
  let stopWorker: () => Promise<void>;
  // Everything the worker logs (activities and, through the SDK runtime, workflow code), as JSON lines.
  const logLines: string[] = [];
  const workerLogger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''));
        done();
      },
    }),
  );
  let fake: FakeOAuthServer;
  let queue: QueueRecord;
  const secretKey = newSecretKey();
  const connectDeps = () => ({ db: database.db, secretKey, logger: testLogger });

  const waitForStatus = (description: string, accept: (value: QueueStatus) => boolean, timeoutMs = 30_000): Promise<QueueStatus> =>
    waitFor(description, async () => {
      const value = await queryQueueStatus(temporal.client, queueNumber).catch((error: unknown) => {
        if (error instanceof QueryNotRegisteredError) return null;
        throw error;
      });
      return value !== null && accept(value) ? value : undefined;
    }, timeoutMs);

  const degradedAttribute = async (): Promise<boolean | undefined> => (await temporal.client.workflow.getHandle(workflowIdOf(queueNumber)).describe()).typedSearchAttributes.get(queueDegradedKey);

  const deliver = (id: string) =>
    appendMessages({ host: mail.dovecot.host, port: mail.dovecot.imapPort, user: account, password: 'unused-Pw-3c1d', ssl: false, sslTrusted: false }, 'INBOX', [
      Buffer.from(`From: customer@example.net\r\nTo: ${account}\r\nSubject: ${id}\r\nMessage-ID: <${id}@example.net>\r\n\r\nHello\r\n`),
    ]);

  async function connect(): Promise<void> {
    const started = await startAuthorization(connectDeps(), queue, 'incoming');
    const redirect = await fake.openInBrowser(started.url);
    await completeAuthorization(connectDeps(), redirect.headers.get('location') ?? '');
  }

  before(async () => {
    database = await startTestDatabase();
    temporal = await startTestTemporal();
    fake = await startFakeOAuthServer({ redirectUri, account });
    process.env.MAILQUEUE_OAUTH_CA_FILE = fake.caFile;
    mail = await startTestDovecot([{ user: account, password: 'unused-Pw-3c1d' }], { oauth2IntrospectionUrl: `${fake.url}/introspect` });
    // The first worker of the process installs the SDK runtime logger, so workflow log lines land here too.
    const worker = await createWorker({ temporalAddress: temporal.address, namespace: 'default', db: database.db, secretKey, logger: workerLogger });
    const running = worker.run();
    stopWorker = async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    };

    await createIntegration(database.db, secretKey, { name: 'tenant', provider: 'microsoft', tenant: 'example.com', clientId: fake.clientId, clientSecret: fake.clientSecret, redirectUri, authorityUrl: fake.tlsUrl });
    const { config, errors } = validateQueueConfig({
      number: queueNumber,
      title: 'OAuth2 desk',
      pollIntervalSeconds: 3600,
      incoming: { protocol: 'imap-oauth2', provider: 'microsoft', integration: 'tenant', host: mail.dovecot.host, port: mail.dovecot.imapPort, ssl: false, user: account },
    });
    assert.deepEqual(errors, []);
    assert.ok(config);
    queue = await createQueue(database.db, secretKey, config);
    await connect();
    await deliver('before-revoke');
    await startQueueWorkflow(temporal.client, queue);
  });

  after(async () => {
    await stopWorker?.();
    await mail?.stop();
    await temporal?.stop();
    await fake?.close();
    await database?.stop();
  });

  test('connected queue fetches', async () => {
    const status = await waitForStatus('first message stored', (value) => value.counters.stored === 1);

    assert.equal(status.degraded, null);
    assert.deepEqual(status.account, { protocol: 'imap-oauth2', address: account, state: 'connected' });
  });

  test('revoked grant degrades status and search attribute', async () => {
    fake.revokeAll();
    await database.db('oauth_connections').where({ queue_id: queue.id }).update({ access_token_expires_at: new Date(0) });
    await deliver('while-revoked');
    await signalMailArrived(temporal.client, queueNumber);

    const status = await waitForStatus('queue degraded', (value) => value.degraded !== null);

    assert.match(status.degraded?.reason ?? '', /invalid_grant/);
    assert.equal(status.account?.state, 'degraded');
    assert.equal(status.lastError?.type, 'ReconnectRequired');
    assert.equal(await waitFor('QueueDegraded true', async () => ((await degradedAttribute()) === true ? true : undefined), 10_000), true);
    assert.equal(await countRows(database.db, 'messages', { queue_id: queue.id }), 1);
  });

  test('degraded is logged at error once per streak', async () => {
    const before = await waitForStatus('degraded status', (value) => value.degraded !== null);
    await signalMailArrived(temporal.client, queueNumber);
    await waitForStatus('another failed cycle', (value) => (value.lastError?.consecutive ?? 0) > (before.lastError?.consecutive ?? 0));

    const degradedLines = logLines.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((entry) => entry.msg === 'queue degraded: the mailbox must be reconnected');
    assert.equal(degradedLines.length, 1);
    assert.equal(degradedLines[0].level, 50);
  });

  test('reconnect recovers without a restart', async () => {
    await connect();
    await signalConfigChanged(temporal.client, queueNumber);

    const status = await waitForStatus('queue recovered', (value) => value.degraded === null && value.counters.stored === 2);

    assert.equal(status.account?.state, 'connected');
    assert.equal(await waitFor('QueueDegraded false', async () => ((await degradedAttribute()) === false ? false : undefined), 10_000), false);
  });

  test('worker log holds no token or secret', () => {
    const log = logLines.join('\n');

    assert.ok(log.includes('oauth access token refreshed') || log.includes('queue degraded'));
    for (const secret of [...fake.issuedAccessTokens, ...fake.liveRefreshTokens(), fake.clientSecret]) {
      assert.ok(!log.includes(secret), 'a token or secret appeared in the worker log');
    }
  });

  test('history holds no token or secret', async () => {
    const history = await historyJson(temporal.client, workflowIdOf(queueNumber));
    const rows: Array<{ refresh_token_ciphertext: string }> = await database.db('oauth_connections').select('refresh_token_ciphertext');

    assert.ok(fake.issuedAccessTokens.length >= 2);
    for (const secret of [...fake.issuedAccessTokens, ...fake.liveRefreshTokens(), fake.clientSecret, ...rows.map((row) => row.refresh_token_ciphertext)]) {
      assert.ok(!history.includes(secret), 'a token or secret appeared in the workflow history');
    }
    assert.ok(!/"(at|rt)-[A-Za-z0-9_-]{20,}"/.test(history));
  });
});
