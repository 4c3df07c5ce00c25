import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SMTPServer } from 'smtp-server';

import { openOutgoingTransport } from '../../src/activities/transports.js';
import { createIntegration } from '../../src/db/oauth.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { validateQueueConfig } from '../../src/domain/queue-config.js';
import { sendRawMail } from '../../src/mail/smtp.js';
import { completeAuthorization, startAuthorization } from '../../src/oauth/connect.js';
import { newSecretKey, startTestDatabase, testLogger, type TestDatabase } from '../support/environment.js';
import { startFakeOAuthServer, type FakeOAuthServer } from '../support/fake-oauth.js';

const redirectUri = 'http://127.0.0.1:8767/oauth/callback';
const account = 'desk@example.com';

describe('SMTP XOAUTH2 transport', () => {
  let fake: FakeOAuthServer;
  let database: TestDatabase;
  let smtp: SMTPServer;
  let smtpPort = 0;
  const secretKey = newSecretKey();
  let queue: QueueRecord;
  const logins: Array<{ method: string; user: string; token: string; accepted: boolean }> = [];
  const received: Buffer[] = [];
  /** A token the server rejects although the provider still considers it live (revoked at the mail server only). */
  let rejectedToken: string | null = null;

  before(async () => {
    fake = await startFakeOAuthServer({ redirectUri, account });
    database = await startTestDatabase();
    smtp = new SMTPServer({
      authMethods: ['XOAUTH2'],
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      onAuth(auth, _session, callback) {
        const token = auth.accessToken ?? '';
        const accepted = auth.method === 'XOAUTH2' && auth.username === account && fake.isActiveAccessToken(token) && token !== rejectedToken;
        logins.push({ method: auth.method, user: auth.username ?? '', token, accepted });
        if (accepted) callback(null, { user: auth.username });
        else callback(null, { data: { status: '401', schemes: 'bearer' } });
      },
      onData(stream, _session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          received.push(Buffer.concat(chunks));
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
    smtpPort = (smtp.server.address() as AddressInfo).port;

    await createIntegration(database.db, secretKey, { name: 'google', provider: 'google', tenant: null, clientId: fake.clientId, clientSecret: fake.clientSecret, redirectUri, authorityUrl: fake.url, tokenUrl: `${fake.url}/token` });
    const { config, errors } = validateQueueConfig({
      title: 'Gmail over IMAP and SMTP',
      incoming: { protocol: 'imap-oauth2', provider: 'google', integration: 'google', user: account },
      outgoing: { useSameMethodAsIncoming: true, host: '127.0.0.1', port: smtpPort, security: 'none' },
    });
    assert.deepEqual(errors, []);
    assert.ok(config);
    queue = await createQueue(database.db, secretKey, config);
    const started = await startAuthorization({ db: database.db, secretKey, logger: testLogger }, queue, 'incoming');
    assert.equal(new URL(started.url).searchParams.get('access_type'), 'offline');
    const redirect = await fetch(started.url, { redirect: 'manual' });
    await completeAuthorization({ db: database.db, secretKey, logger: testLogger }, redirect.headers.get('location') ?? '');
  });

  after(async () => {
    await new Promise<void>((resolve) => smtp?.close(() => resolve()));
    await database?.stop();
    await fake?.close();
  });

  const raw = Buffer.from(`From: ${account}\r\nTo: customer@example.net\r\nSubject: Re: order\r\nMessage-ID: <reply-1@example.com>\r\nIn-Reply-To: <order@example.net>\r\n\r\nThanks\r\n`);

  test('sends with the shared token', async () => {
    const transport = await openOutgoingTransport({ db: database.db, secretKey: () => secretKey, sendRawMail }, queue, testLogger);

    const result = await transport.send({ from: account, to: ['customer@example.net'] }, raw);

    assert.deepEqual(result.accepted, ['customer@example.net']);
    assert.equal(logins.at(-1)?.method, 'XOAUTH2');
    assert.equal(logins.at(-1)?.user, account);
    assert.ok(received.at(-1)?.equals(raw));
  });

  test('rejected token is refreshed once', async () => {
    await database.db('oauth_connections').where({ queue_id: queue.id }).update({ access_token_expires_at: new Date(Date.now() + 30 * 60 * 1000) });
    rejectedToken = logins.at(-1)?.token ?? null;
    assert.ok(rejectedToken);
    const before = logins.length;
    const transport = await openOutgoingTransport({ db: database.db, secretKey: () => secretKey, sendRawMail }, queue, testLogger);

    const result = await transport.send({ from: account, to: ['customer@example.net'] }, raw);

    assert.deepEqual(result.accepted, ['customer@example.net']);
    const attempts = logins.slice(before);
    assert.equal(attempts.at(-1)?.accepted, true);
    assert.ok(attempts.slice(0, -1).every((attempt) => !attempt.accepted && attempt.token === rejectedToken));
    assert.notEqual(attempts.at(-1)?.token, rejectedToken);
  });
});
