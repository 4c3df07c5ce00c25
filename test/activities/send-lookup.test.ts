import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Logger } from 'pino';

import { ingestRawMessage } from '../../src/activities/ingest.js';
import { queueOutgoingMail } from '../../src/activities/outgoing-mail.js';
import { composeAgentReply } from '../../src/activities/reply.js';
import { sendOutboxMail, type SendDependencies } from '../../src/activities/send.js';
import { threadPendingMessages } from '../../src/activities/thread.js';
import { createIntegration } from '../../src/db/oauth.js';
import { findOutbox } from '../../src/db/outbox.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { loadSendingProfile } from '../../src/db/sending-profile.js';
import { createUser } from '../../src/db/users.js';
import { validateQueueConfig, type QueueConfigInput } from '../../src/domain/queue-config.js';
import { sendRawMail } from '../../src/mail/smtp.js';
import { completeAuthorization, startAuthorization } from '../../src/oauth/connect.js';
import { recordingLogger } from '../support/cloud-mail.js';
import { newSecretKey, startTestDatabase, testLogger, type TestDatabase } from '../support/environment.js';
import { startFakeGmail, type FakeGmail } from '../support/fake-gmail.js';
import { startFakeGraph, type FakeGraph } from '../support/fake-graph.js';
import { startFakeOAuthServer, type FakeOAuthServer } from '../support/fake-oauth.js';

const redirectUri = 'http://127.0.0.1:8771/oauth/callback';

/** Returns the Message-ID header of raw bytes without angle brackets. */
function messageIdIn(raw: Buffer): string {
  return /^message-id:\s*<([^>]+)>/im.exec(raw.toString('latin1'))?.[1] ?? '';
}

describe('interrupted sends settled through the provider sent mail', () => {
  let database: TestDatabase;
  let oauth: FakeOAuthServer;
  let gmail: FakeGmail;
  let graph: FakeGraph;
  const secretKey = newSecretKey();
  let gmailQueue: QueueRecord;
  let graphQueue: QueueRecord;
  let customerCounter = 0;

  const deps = (logger: Logger = testLogger): SendDependencies => ({ db: database.db, secretKey: () => secretKey, logger, sendRawMail });

  async function queueFrom(document: QueueConfigInput): Promise<QueueRecord> {
    const { config, errors } = validateQueueConfig(document);
    assert.deepEqual(errors, []);
    assert.ok(config);
    return createQueue(database.db, secretKey, config);
  }

  /** Stores and threads a customer mail to the queue's mailbox. Returns the new ticket. */
  async function ticketIn(queue: QueueRecord, mailbox: string): Promise<{ id: number; number: number; title: string }> {
    customerCounter += 1;
    const customer = `customer${customerCounter}@example.net`;
    const raw = Buffer.from(`From: ${customer}\r\nTo: ${mailbox}\r\nSubject: Order ${customerCounter}\r\nMessage-ID: <order-${customerCounter}-${Date.now()}@example.net>\r\n\r\nWhere is my order?\r\n`);
    const stored = await ingestRawMessage(database.db, raw, { queueId: queue.id, sourceKey: `test:${customerCounter}`, maxMessageBytes: queue.maxMessageBytes, imported: false }, testLogger);
    await threadPendingMessages(database.db, queue.id, testLogger);
    const row: { id: number; number: number; title: string } = await database.db('messages')
      .join('tickets', 'tickets.id', 'messages.ticket_id')
      .where('messages.id', stored.messageRowId)
      .first('tickets.id', 'tickets.number', 'tickets.title');
    assert.ok(row, 'the customer mail became a ticket');
    return row;
  }

  /** Queues an auto-response on a new ticket and leaves it in `sending`, as a crash mid-attempt would. */
  async function interruptedAutoResponse(queue: QueueRecord, mailbox: string): Promise<{ outboxId: number; raw: Buffer; messageId: string }> {
    const ticket = await ticketIn(queue, mailbox);
    const profile = await loadSendingProfile(database.db, queue.id);
    const requester: { requester_address: string } = await database.db('tickets').where({ id: ticket.id }).first('requester_address');
    const queued = await database.db.transaction((trx) =>
      queueOutgoingMail(trx, {
        kind: 'autoresponse',
        idempotencyKey: `test-autoresponse:${ticket.id}`,
        profile,
        ticket,
        recipient: { name: '', address: requester.requester_address },
        user: null,
        subject: 'Received',
        text: 'We received your mail.',
        html: null,
        answered: null,
        headers: { 'Auto-Submitted': 'auto-replied' },
        attachments: [],
        tagTemplate: '[Ticket#{number}]',
      }),
    );
    return interrupt(queued.outboxId);
  }

  /** Composes an agent reply on a new ticket and leaves it in `sending`. */
  async function interruptedReply(queue: QueueRecord, mailbox: string): Promise<{ outboxId: number; raw: Buffer; messageId: string }> {
    const ticket = await ticketIn(queue, mailbox);
    const queued = await composeAgentReply(database.db, { ticketNumber: ticket.number, userAlias: 'agent', text: 'It ships today.', html: null, attachments: [] }, testLogger);
    return interrupt(queued.outboxId);
  }

  async function interrupt(outboxId: number): Promise<{ outboxId: number; raw: Buffer; messageId: string }> {
    await database.db('outbox').where({ id: outboxId }).update({ state: 'sending', attempts: 1 });
    const row = await findOutbox(database.db, outboxId);
    assert.ok(row);
    return { outboxId, raw: row.raw, messageId: row.messageId };
  }

  async function storedCopies(outboxId: number): Promise<number> {
    const row = await database.db('messages').where({ source_key: `outbox:${outboxId}`, direction: 'outgoing' }).count<{ count: string }>('id as count').first();
    return Number(row?.count);
  }

  function gmailSentWith(messageId: string): number {
    return gmail.sent.filter((mail) => messageIdIn(mail.raw) === messageId).length;
  }

  function graphSentWith(messageId: string): number {
    return graph.sent.filter((raw) => messageIdIn(raw) === messageId).length;
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
    graphQueue = await queueFrom({ title: 'Tenant desk', incoming: { protocol: 'graph-tenant', integration: 'contoso-app', user: 'desk@contoso.example' }, outgoing: { useSameMethodAsIncoming: true } });
    await createUser(database.db, { alias: 'agent', email: 'agent@example.com', name: 'Agent' });

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

  test('auto-response found in SENT marked sent', async () => {
    const row = await interruptedAutoResponse(gmailQueue, 'desk@example.com');
    gmail.addMessage(row.raw, ['SENT']);
    const sendsBefore = gmail.sent.length;

    const outcome = await sendOutboxMail(deps(), row.outboxId);

    assert.deepEqual(outcome, { state: 'sent', alreadySent: true });
    assert.equal(gmail.sent.length, sendsBefore, 'no second send');
    const lookup = gmail.requests.filter((request) => request.path.endsWith('/messages') && request.query.get('q') === `rfc822msgid:${row.messageId}`);
    assert.equal(lookup.length, 1);
    assert.deepEqual(lookup[0]?.query.getAll('labelIds'), ['SENT']);
    const stored = await findOutbox(database.db, row.outboxId);
    assert.equal(stored?.state, 'sent');
    assert.ok(stored?.sentAt);
    assert.equal(await storedCopies(row.outboxId), 1);
  });

  test('reply in Sent Items marked sent', async () => {
    const row = await interruptedReply(graphQueue, 'desk@contoso.example');
    graph.addMessage(row.raw, 'sentitems');
    const sendsBefore = graph.sent.length;

    const outcome = await sendOutboxMail(deps(), row.outboxId);

    assert.deepEqual(outcome, { state: 'sent', alreadySent: true });
    assert.equal(graph.sent.length, sendsBefore, 'no second send');
    assert.equal((await findOutbox(database.db, row.outboxId))?.state, 'sent');
    assert.equal(await storedCopies(row.outboxId), 1);
    const ticketRow: { ticket_id: number } = await database.db('messages').where({ source_key: `outbox:${row.outboxId}` }).first('ticket_id');
    assert.equal(ticketRow.ticket_id, (await findOutbox(database.db, row.outboxId))?.ticketId);
  });

  test('auto-response not in SENT fails uncertain', async () => {
    const row = await interruptedAutoResponse(gmailQueue, 'desk@example.com');
    const requestsBefore = gmail.requests.length;

    const outcome = await sendOutboxMail(deps(), row.outboxId);

    assert.equal(outcome.state, 'failed');
    assert.match(outcome.state === 'failed' ? outcome.reason : '', /delivery uncertain/);
    assert.equal(gmailSentWith(row.messageId), 0);
    assert.ok(gmail.requests.slice(requestsBefore).some((request) => request.query.get('q') === `rfc822msgid:${row.messageId}`), 'sent mail was asked');
    assert.equal(await storedCopies(row.outboxId), 0);
  });

  test('reply missing from Sent Items resent', async () => {
    const row = await interruptedReply(graphQueue, 'desk@contoso.example');

    const outcome = await sendOutboxMail(deps(), row.outboxId);

    assert.deepEqual(outcome, { state: 'sent', alreadySent: false });
    assert.equal(graphSentWith(row.messageId), 1);
    const lookups = graph.requests.filter((request) => request.path.endsWith('/mailFolders/sentitems/messages') && (request.query.get('$filter') ?? '').includes(row.messageId));
    assert.equal(lookups.length, 1);
    assert.equal(await storedCopies(row.outboxId), 1);
  });

  test('failed gmail lookup fails auto-response uncertain', async () => {
    const row = await interruptedAutoResponse(gmailQueue, 'desk@example.com');
    // The copy is in SENT, but every lookup attempt returns 500, so the lookup cannot tell.
    gmail.addMessage(row.raw, ['SENT']);
    gmail.failNext(3, 500, '0');
    const { logger, lines } = recordingLogger();

    const outcome = await sendOutboxMail(deps(logger), row.outboxId);

    assert.equal(outcome.state, 'failed');
    assert.match(outcome.state === 'failed' ? outcome.reason : '', /delivery uncertain/);
    assert.equal(gmailSentWith(row.messageId), 0);
    const logged = lines.map((line) => JSON.parse(line) as { msg: string; outboxId?: number; queueId?: number; failureType?: string });
    const failure = logged.find((entry) => entry.msg.startsWith('sent mail lookup failed'));
    assert.ok(failure, 'the lookup failure is logged');
    assert.equal(failure.outboxId, row.outboxId);
    assert.equal(failure.queueId, gmailQueue.id);
    assert.equal(typeof failure.failureType, 'string');
    const text = lines.join('');
    for (const token of oauth.issuedAccessTokens) assert.ok(!text.includes(token), 'no access token in the log');
  });

  test('failed graph lookup resends reply once', async () => {
    const row = await interruptedReply(graphQueue, 'desk@contoso.example');
    graph.failNext(3, 500, '0');
    const { logger, lines } = recordingLogger();

    const outcome = await sendOutboxMail(deps(logger), row.outboxId);

    assert.deepEqual(outcome, { state: 'sent', alreadySent: false });
    assert.equal(graphSentWith(row.messageId), 1);
    assert.ok(lines.some((line) => line.includes('sent mail lookup failed')), 'the lookup failure is logged');
    const text = lines.join('');
    for (const token of oauth.issuedAccessTokens) assert.ok(!text.includes(token), 'no access token in the log');
  });
});
