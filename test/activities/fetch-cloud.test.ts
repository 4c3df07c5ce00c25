import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { fetchNewMail, type FetchDependencies } from '../../src/activities/fetch.js';
import { openOutgoingTransport } from '../../src/activities/transports.js';
import { createIntegration } from '../../src/db/oauth.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { validateQueueConfig, type QueueConfigInput } from '../../src/domain/queue-config.js';
import { connectImap } from '../../src/mail/imap.js';
import { sendRawMail } from '../../src/mail/smtp.js';
import { completeAuthorization, startAuthorization } from '../../src/oauth/connect.js';
import { newSecretKey, startTestDatabase, testLogger, type TestDatabase } from '../support/environment.js';
import { startFakeGmail, type FakeGmail } from '../support/fake-gmail.js';
import { startFakeGraph, type FakeGraph } from '../support/fake-graph.js';
import { startFakeOAuthServer, type FakeOAuthServer } from '../support/fake-oauth.js';

const redirectUri = 'http://127.0.0.1:8769/oauth/callback';
// One mail delivered to two mailboxes: same Message-ID and content below the delivery headers.
const duplicateCase = join(process.cwd(), '..', 'shared', 'cases', 'C09');

function message(id: string, to = 'desk@example.com', extraHeaders = ''): Buffer {
  return Buffer.from(`${extraHeaders}From: customer@example.net\r\nTo: ${to}\r\nSubject: ${id}\r\nMessage-ID: <${id}@example.net>\r\n\r\nBody of ${id}\r\n`);
}

describe('Gmail and Graph through the fetch and send activities', () => {
  let database: TestDatabase;
  let oauth: FakeOAuthServer;
  let gmail: FakeGmail;
  let graph: FakeGraph;
  const secretKey = newSecretKey();
  let gmailQueue: QueueRecord;
  let tenantQueue: QueueRecord;
  const deps = (): FetchDependencies => ({ db: database.db, secretKey: () => secretKey, connectImap, logger: testLogger });

  async function queueFrom(document: QueueConfigInput): Promise<QueueRecord> {
    const { config, errors } = validateQueueConfig(document);
    assert.deepEqual(errors, []);
    assert.ok(config);
    return createQueue(database.db, secretKey, config);
  }

  async function storedCount(queueId: number): Promise<number> {
    const row = await database.db('messages').where({ queue_id: queueId }).count<{ count: string }>('id as count').first();
    return Number(row?.count);
  }

  before(async () => {
    database = await startTestDatabase();
    oauth = await startFakeOAuthServer({ redirectUri, account: 'desk@example.com' });
    process.env.MAILQUEUE_OAUTH_CA_FILE = oauth.caFile;
    gmail = await startFakeGmail({ emailAddress: 'desk@example.com' });
    graph = await startFakeGraph({ principal: 'desk@contoso.example' });
    graph.setTokenKind('application');

    await createIntegration(database.db, secretKey, { name: 'google', provider: 'google', tenant: null, clientId: oauth.clientId, clientSecret: oauth.clientSecret, redirectUri, authorityUrl: oauth.url, tokenUrl: `${oauth.url}/token`, apiUrl: gmail.rootUrl });
    await createIntegration(database.db, secretKey, { name: 'contoso-app', provider: 'microsoft', tenant: 'contoso.example', clientId: oauth.clientId, clientSecret: oauth.clientSecret, redirectUri, authorityUrl: oauth.tlsUrl, apiUrl: graph.baseUrl });

    gmailQueue = await queueFrom({ title: 'Gmail desk', incoming: { protocol: 'gmail', integration: 'google', user: 'desk@example.com' }, outgoing: { useSameMethodAsIncoming: true } });
    tenantQueue = await queueFrom({ title: 'Tenant desk', incoming: { protocol: 'graph-tenant', integration: 'contoso-app', user: 'desk@contoso.example' }, outgoing: { useSameMethodAsIncoming: true } });

    const started = await startAuthorization({ db: database.db, secretKey, logger: testLogger }, gmailQueue, 'incoming');
    const redirect = await oauth.openInBrowser(started.url);
    await completeAuthorization({ db: database.db, secretKey, logger: testLogger }, redirect.headers.get('location') ?? '');
  });

  after(async () => {
    await graph?.close();
    await gmail?.close();
    await oauth?.close();
    await database?.stop();
  });

  test('gmail stores duplicates and labels once', async () => {
    gmail.addMessage(await readFile(join(duplicateCase, '1.eml')));
    gmail.addMessage(await readFile(join(duplicateCase, '2.eml')));
    const labelled = gmail.addMessage(message('two-labels', 'sales@example.com', 'Delivered-To: sales@example.com\r\n'), ['INBOX', 'Label_1']);
    gmail.addLabels(labelled, ['IMPORTANT']);

    const first = await fetchNewMail(deps(), gmailQueue.id);
    assert.equal(first.stored, 2);
    assert.equal(first.duplicates, 1);

    const second = await fetchNewMail(deps(), gmailQueue.id);
    assert.equal(second.stored, 0);
    assert.equal(await storedCount(gmailQueue.id), 2);
    const alias = await database.db('messages').where({ queue_id: gmailQueue.id, message_id: 'two-labels@example.net' }).first('delivered_to');
    assert.deepEqual(alias?.delivered_to, ['sales@example.com']);
  });

  test('gmail expired history resyncs without duplicates', async () => {
    gmail.expireHistory();
    gmail.addMessage(message('after-expiry'));

    let resynced = false;
    for (let round = 0; round < 5; round++) {
      const result = await fetchNewMail(deps(), gmailQueue.id);
      resynced ||= result.resynced === true;
      if (!result.more) break;
    }

    assert.equal(resynced, true);
    assert.equal(await storedCount(gmailQueue.id), 3);
  });

  test('gmail send keeps threading headers', async () => {
    const raw = Buffer.from('From: Desk <alias@example.com>\r\nTo: customer@example.net\r\nReply-To: desk@example.com\r\nSubject: Re: order\r\nMessage-ID: <reply-g@example.com>\r\nIn-Reply-To: <order@example.net>\r\nReferences: <order@example.net>\r\n\r\nThanks\r\n');
    const transport = await openOutgoingTransport({ db: database.db, secretKey: () => secretKey, sendRawMail }, gmailQueue, testLogger);

    await transport.send({ from: 'alias@example.com', to: ['customer@example.net'] }, raw);

    assert.equal(gmail.sent.length, 1);
    assert.match(gmail.sent[0].raw.toString(), /In-Reply-To: <order@example\.net>/);
    assert.match(gmail.sent[0].raw.toString(), /Message-ID: <reply-g@example\.com>/);
  });

  test('graph tenant fetches with the application token', async () => {
    graph.addMessage(message('tenant-1', 'desk@contoso.example'));
    graph.addMessage(message('tenant-2', 'desk@contoso.example'));

    const first = await fetchNewMail(deps(), tenantQueue.id);
    assert.equal(first.stored, 2);
    assert.equal(oauth.grants.at(-1), 'client_credentials');

    graph.expireDeltaLinks();
    graph.addMessage(message('tenant-3', 'desk@contoso.example'));
    let resynced = false;
    for (let round = 0; round < 5; round++) {
      const result = await fetchNewMail(deps(), tenantQueue.id);
      resynced ||= result.resynced === true;
      if (!result.more) break;
    }

    assert.equal(resynced, true);
    assert.equal(await storedCount(tenantQueue.id), 3);
  });

  test('graph tenant sends as the mailbox', async () => {
    const raw = Buffer.from('From: desk@contoso.example\r\nTo: customer@example.net\r\nSubject: Re: question\r\nMessage-ID: <reply-t@contoso.example>\r\nIn-Reply-To: <tenant-1@example.net>\r\n\r\nAnswer\r\n');
    const transport = await openOutgoingTransport({ db: database.db, secretKey: () => secretKey, sendRawMail }, tenantQueue, testLogger);

    await transport.send({ from: 'desk@contoso.example', to: ['customer@example.net'] }, raw);

    assert.equal(graph.sent.length, 1);
    assert.match(graph.sent[0].toString(), /In-Reply-To: <tenant-1@example\.net>/);
  });

  test('graph delegated sign-in fetches and sends', async () => {
    const delegated = await startFakeGraph({ principal: 'agent-desk@contoso.example' });
    try {
      await createIntegration(database.db, secretKey, { name: 'contoso-delegated', provider: 'microsoft', tenant: 'contoso.example', clientId: oauth.clientId, clientSecret: oauth.clientSecret, redirectUri, authorityUrl: oauth.tlsUrl, apiUrl: delegated.baseUrl });
      const queue = await queueFrom({ title: 'Delegated desk', incoming: { protocol: 'graph', integration: 'contoso-delegated', user: 'agent-desk@contoso.example' }, outgoing: { useSameMethodAsIncoming: true } });
      const started = await startAuthorization({ db: database.db, secretKey, logger: testLogger }, queue, 'incoming');
      assert.match(new URL(started.url).searchParams.get('scope') ?? '', /Mail\.ReadWrite/);
      const redirect = await oauth.openInBrowser(started.url);
      await completeAuthorization({ db: database.db, secretKey, logger: testLogger }, redirect.headers.get('location') ?? '');
      delegated.addMessage(message('delegated-1', 'agent-desk@contoso.example'));

      const result = await fetchNewMail(deps(), queue.id);
      const transport = await openOutgoingTransport({ db: database.db, secretKey: () => secretKey, sendRawMail }, queue, testLogger);
      await transport.send({ from: 'agent-desk@contoso.example', to: ['customer@example.net'] }, Buffer.from('From: agent-desk@contoso.example\r\nTo: customer@example.net\r\nSubject: Re: delegated\r\nMessage-ID: <delegated-reply@contoso.example>\r\n\r\nAnswer\r\n'));

      assert.equal(result.stored, 1);
      assert.equal(delegated.sent.length, 1);
      assert.ok(delegated.requests.some((request) => request.path.includes('/me/')));
    } finally {
      await delegated.close();
    }
  });
});
