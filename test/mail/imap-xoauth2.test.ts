import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { fetchNewMail } from '../../src/activities/fetch.js';
import { createIntegration } from '../../src/db/oauth.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { validateQueueConfig } from '../../src/domain/queue-config.js';
import { FailureType, MailqueueError } from '../../src/errors.js';
import { connectImap } from '../../src/mail/imap.js';
import { completeAuthorization, startAuthorization } from '../../src/oauth/connect.js';
import { requestToken } from '../../src/oauth/provider.js';
import { newSecretKey, startTestDatabase, startTestDovecot, testLogger, type TestDatabase, type TestMailServer } from '../support/environment.js';
import { startFakeOAuthServer, type FakeOAuthServer } from '../support/fake-oauth.js';
import { appendMessages } from '../support/imap-admin.js';

const redirectUri = 'http://127.0.0.1:8766/oauth/callback';
const account = 'm365@example.com';

describe('IMAP XOAUTH2 against Dovecot', () => {
  let fake: FakeOAuthServer;
  let server: TestMailServer;
  let database: TestDatabase;
  const secretKey = newSecretKey();
  let queue: QueueRecord;

  before(async () => {
    fake = await startFakeOAuthServer({ redirectUri, account });
    process.env.MAILQUEUE_OAUTH_CA_FILE = fake.caFile;
    server = await startTestDovecot([{ user: account, password: 'unused-password' }], { oauth2IntrospectionUrl: `${fake.url}/introspect` });
    database = await startTestDatabase();
    await createIntegration(database.db, secretKey, { name: 'm365', provider: 'microsoft', tenant: 'example.com', clientId: fake.clientId, clientSecret: fake.clientSecret, redirectUri, authorityUrl: fake.tlsUrl });
    const { config, errors } = validateQueueConfig({
      title: 'XOAUTH2',
      incoming: { protocol: 'imap-oauth2', provider: 'microsoft', integration: 'm365', host: server.dovecot.host, port: server.dovecot.imapPort, ssl: false, user: account },
    });
    assert.deepEqual(errors, []);
    assert.ok(config);
    queue = await createQueue(database.db, secretKey, config);
    await appendMessages({ host: server.dovecot.host, port: server.dovecot.imapPort, user: account, password: 'unused-password', ssl: false, sslTrusted: false }, 'INBOX', [
      Buffer.from('From: a@example.net\r\nSubject: over xoauth2\r\nMessage-ID: <xoauth2-1@example.net>\r\n\r\nhello\r\n'),
    ]);
  });

  after(async () => {
    await database?.stop();
    await server?.stop();
    await fake?.close();
  });

  const settings = (accessToken: string) => ({ host: server.dovecot.host, port: server.dovecot.imapPort, user: account, password: '', accessToken, ssl: false, sslTrusted: false });

  test('live token logs in', async () => {
    const tokens = await requestToken({ provider: 'microsoft', tenant: 'example.com', clientId: fake.clientId, clientSecret: fake.clientSecret, redirectUri, authorityUrl: fake.tlsUrl, tokenUrl: null }, { grant_type: 'client_credentials', scope: 'mail' });
    const mailbox = await connectImap(settings(tokens.accessToken), testLogger);
    try {
      const folder = await mailbox.openFolder('INBOX');
      assert.equal(folder.state.exists, 1);
      await folder.close();
    } finally {
      await mailbox.logout();
    }
  });

  test('unknown token fails authentication', async () => {
    await assert.rejects(connectImap(settings('at-not-issued-by-the-fake'), testLogger), (error: unknown) => error instanceof MailqueueError && error.type === FailureType.AuthenticationFailed);
  });

  test('fetch activity signs in with the stored connection', async () => {
    const started = await startAuthorization({ db: database.db, secretKey, logger: testLogger }, queue, 'incoming');
    const redirect = await fake.openInBrowser(started.url);
    await completeAuthorization({ db: database.db, secretKey, logger: testLogger }, redirect.headers.get('location') ?? '');

    const result = await fetchNewMail({ db: database.db, secretKey: () => secretKey, connectImap, logger: testLogger }, queue.id);

    assert.equal(result.stored, 1);
  });

  test('revoked grant stops fetch with ReconnectRequired', async () => {
    fake.revokeAll();
    await database.db('oauth_connections').where({ queue_id: queue.id }).update({ access_token_expires_at: new Date(0) });

    await assert.rejects(fetchNewMail({ db: database.db, secretKey: () => secretKey, connectImap, logger: testLogger }, queue.id), (error: unknown) => error instanceof MailqueueError && error.type === FailureType.ReconnectRequired);
  });
});
