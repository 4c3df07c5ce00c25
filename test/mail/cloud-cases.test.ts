import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ingestRawMessage, type IngestOutcome } from '../../src/activities/ingest.js';
import { threadPendingMessages } from '../../src/activities/thread.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { createGmailSource } from '../../src/mail/gmail.js';
import { createGraphSource } from '../../src/mail/graph.js';
import type { MailSource, SourceCursor } from '../../src/mail/mail-source.js';
import { CountingTokens, drain } from '../support/cloud-mail.js';
import { newSecretKey, startTestDatabase, testLogger, type TestDatabase } from '../support/environment.js';
import { startFakeGmail } from '../support/fake-gmail.js';
import { startFakeGraph } from '../support/fake-graph.js';
import { caseFile, noSharedData, sharedRoot } from './shared-data.js';

/** Result of one fetch of a source: the ingest outcome and delivery addresses of each listed key. */
interface FetchRecord {
  cursor: SourceCursor | null;
  resynced: boolean;
  outcomes: Array<{ key: string; outcome: IngestOutcome; deliveredTo: string[] }>;
}

/**
 * Lists, downloads and stores everything new in `source`, as the fetch activity does: each
 * message is stored under its source key in its own transaction before the cursor moves.
 */
async function fetchInto(database: TestDatabase, queue: QueueRecord, source: MailSource, cursor: SourceCursor | null): Promise<FetchRecord> {
  const outcomes: FetchRecord['outcomes'] = [];
  const run = await drain(source, cursor, 5, async (key) => {
    const downloaded = await source.download({ key, size: null });
    assert.ok(downloaded, `${key} vanished`);
    const outcome = await ingestRawMessage(database.db, downloaded.raw, { queueId: queue.id, sourceKey: key, maxMessageBytes: queue.maxMessageBytes, imported: false }, testLogger);
    outcomes.push({ key, outcome, deliveredTo: downloaded.deliveredTo });
  });
  return { cursor: run.cursor, resynced: run.listings.some((listing) => listing.resynced), outcomes };
}

describe('shared cases over cloud mailboxes', { skip: sharedRoot === null ? noSharedData : false }, () => {
  let database: TestDatabase;
  const secretKey = newSecretKey();

  const queueFor = (address: string): Promise<QueueRecord> =>
    createQueue(database.db, secretKey, {
      title: `Cloud ${address} ${Date.now()}`,
      description: '',
      active: true,
      category: null,
      pollIntervalSeconds: 3600,
      maxMessageBytes: 26_214_400,
      incoming: { protocol: 'imap', host: '127.0.0.1', port: 143, user: address, password: 'unused-password', ssl: false, sslTrusted: true, dontKeepEmails: false, folder: 'INBOX' },
    });

  before(async () => {
    database = await startTestDatabase();
  });

  after(async () => {
    await database?.stop();
  });

  it('Gmail and Graph copies make one ticket', async () => {
    const support = await startFakeGmail({ emailAddress: 'support@helpdesk.example.com' });
    const billing = await startFakeGraph({ principal: 'billing@helpdesk.example.com' });
    try {
      support.addMessage(caseFile('C09', '1.eml'), ['INBOX', 'IMPORTANT', 'Label_refunds']);
      billing.addMessage(caseFile('C09', '2.eml'));
      const supportQueue = await queueFor('support@helpdesk.example.com');
      const billingQueue = await queueFor('billing@helpdesk.example.com');
      const supportSource = createGmailSource({ apiBaseUrl: support.rootUrl, tokens: new CountingTokens('support') }, testLogger);
      const billingSource = createGraphSource({ apiBaseUrl: billing.baseUrl, mailbox: billing.principal, tokens: new CountingTokens('billing') }, testLogger);

      const first = await fetchInto(database, supportQueue, supportSource, null);
      const second = await fetchInto(database, billingQueue, billingSource, null);
      const supportThreads = await threadPendingMessages(database.db, supportQueue.id, testLogger);
      const billingThreads = await threadPendingMessages(database.db, billingQueue.id, testLogger);
      support.expireHistory();
      billing.expireDeltaLinks();
      const supportAgain = await fetchInto(database, supportQueue, supportSource, first.cursor);
      const billingAgain = await fetchInto(database, billingQueue, billingSource, second.cursor);

      assert.deepEqual(first.outcomes.map((entry) => entry.outcome.status), ['stored']);
      assert.deepEqual(second.outcomes.map((entry) => entry.outcome.status), ['stored']);
      assert.equal(supportThreads.newTickets, 1);
      assert.equal(billingThreads.newTickets, 0);
      assert.equal(billingThreads.crossQueueDuplicates, 1);
      assert.deepEqual(first.outcomes[0]?.deliveredTo, ['support@helpdesk.example.com']);
      assert.deepEqual(second.outcomes[0]?.deliveredTo, ['billing@helpdesk.example.com']);
      assert.equal(supportAgain.resynced, true);
      assert.equal(billingAgain.resynced, true);
      assert.deepEqual(supportAgain.outcomes.map((entry) => entry.outcome.status), ['already-stored']);
      assert.deepEqual(billingAgain.outcomes.map((entry) => entry.outcome.status), ['already-stored']);
    } finally {
      await support.close();
      await billing.close();
    }
  });

  it('one mailbox keeps both alias copies once', async () => {
    const fake = await startFakeGmail();
    try {
      fake.addMessage(caseFile('C09', '1.eml'));
      fake.addMessage(caseFile('C09', '2.eml'), ['INBOX', 'Label_billing']);
      const queue = await queueFor(fake.emailAddress);

      const fetched = await fetchInto(database, queue, createGmailSource({ apiBaseUrl: fake.rootUrl, tokens: new CountingTokens('aliases') }, testLogger), null);

      const byStatus = new Map(fetched.outcomes.map((entry) => [entry.outcome.status, entry]));
      assert.equal(fetched.outcomes.length, 2);
      assert.deepEqual(byStatus.get('stored')?.deliveredTo.length, 1);
      assert.deepEqual(byStatus.get('duplicate')?.outcome.messageRowId, byStatus.get('stored')?.outcome.messageRowId);
      assert.deepEqual(fetched.outcomes.map((entry) => entry.deliveredTo[0]).sort(), ['billing@helpdesk.example.com', 'support@helpdesk.example.com']);
    } finally {
      await fake.close();
    }
  });

  it('reused Message-ID stores both mails', async () => {
    const fake = await startFakeGraph();
    try {
      fake.addMessage(caseFile('C11', '1.eml'));
      fake.addMessage(caseFile('C11', '2.eml'));
      const queue = await queueFor(fake.principal);

      const fetched = await fetchInto(database, queue, createGraphSource({ apiBaseUrl: fake.baseUrl, mailbox: 'me', tokens: new CountingTokens('c11') }, testLogger), null);

      assert.deepEqual(fetched.outcomes.map((entry) => entry.outcome.status), ['stored', 'stored']);
      assert.notEqual(fetched.outcomes[0]?.outcome.messageRowId, fetched.outcomes[1]?.outcome.messageRowId);
    } finally {
      await fake.close();
    }
  });
});
