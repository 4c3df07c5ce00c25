import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { queueOutgoingMail } from '../../src/activities/outgoing-mail.js';
import { composeAgentReply } from '../../src/activities/reply.js';
import { queryQueueStatus, signalMailArrived, startOutboxDelivery, startQueueWorkflow } from '../../src/client/queue-control.js';
import type { QueueRecord } from '../../src/db/queues.js';
import { loadSendingProfile } from '../../src/db/sending-profile.js';
import { createTemplate } from '../../src/db/templates.js';
import { loadTicketView } from '../../src/db/ticket-views.js';
import { createUser } from '../../src/db/users.js';
import { startTestWorker, testLogger, waitFor, type RunningWorker } from '../support/environment.js';
import { startWorkerProcess } from '../support/worker-process.js';
import {
  createOutgoingQueue,
  customerMail,
  deliverToQueue,
  mailboxes,
  mailsTo,
  SMTP_LOGIN,
  startOutgoingEnvironment,
  TAG_TEMPLATE,
  waitForMailsTo,
  waitForOutboxState,
  type OutboxRow,
  type OutgoingEnvironment,
} from './outgoing-environment.js';

let env: OutgoingEnvironment;
let worker: RunningWorker | null = null;
let replies: QueueRecord;
let trusted: QueueRecord;
/** While true, the capture server defers every `defer@` recipient with 451. */
let deferring = true;

/** Creates a ticket in `queue` for `customer` and returns its number. */
async function ticketFor(queue: QueueRecord, mailbox: (typeof mailboxes)[number], customer: string): Promise<number> {
  const [rowId] = await deliverToQueue(env, queue, mailbox, [customerMail({ from: customer, to: mailbox.user, subject: `Help for ${customer}`, messageId: `${customer.replace('@', '.')}.${Date.now()}@customer.example` })]);
  const row: { number: number } = await env.db('messages').join('tickets', 'tickets.id', 'messages.ticket_id').where('messages.id', rowId).first('tickets.number');
  return row.number;
}

async function reply(ticketNumber: number, text = 'We are on it.'): Promise<{ outboxId: number; messageId: string }> {
  return composeAgentReply(env.db, { ticketNumber, userAlias: 'agent', text, html: null, attachments: [] }, testLogger);
}

async function outboxRow(id: number): Promise<OutboxRow> {
  return env.db('outbox').where({ id }).first();
}

async function messageIdsReceived(recipient: string): Promise<string[]> {
  return Promise.all(mailsTo(env.smtp, recipient).map(async (mail) => (await simpleParser(mail.raw)).messageId ?? ''));
}

before(async () => {
  env = await startOutgoingEnvironment({
    smtp: {
      mode: 'starttls',
      auth: SMTP_LOGIN,
      rejectRecipient: (address) => {
        if (address.startsWith('reject@')) return { code: 550, message: '5.1.1 Mailbox does not exist' };
        if (address.startsWith('defer@') && deferring) return { code: 451, message: '4.3.0 Try again later' };
        return null;
      },
    },
    worker: false,
  });
  await createTemplate(env.db, { name: 'ack', kind: 'autoresponse', subject: 'Received', text: 'Ticket {{ticket.number}} is open.\n' });
  await createUser(env.db, { alias: 'agent', email: 'agent@helpdesk.example.com', name: 'Agent' });
});

after(async () => {
  await worker?.stop();
  await env?.stop();
});

describe('crash between outbox insert and send', () => {
  let autoresponder: QueueRecord;
  let row: OutboxRow;
  let crashedWith: number | string;

  before(async () => {
    autoresponder = await createOutgoingQueue(env, mailboxes[0], { number: 1, autoresponseTemplate: 'ack' });
    // The worker process dies when the workflow requests the outbox summary. By then the
    // auto-response row is committed, but its delivery has not started.
    const doomed = await startWorkerProcess({ temporalAddress: env.temporalAddress, databaseUrl: env.databaseUrl, secretKey: env.secretKeyText, crashInActivity: 'summariseOutbox' });
    await startQueueWorkflow(env.client, autoresponder);
    const [rowId] = await deliverToQueue(env, autoresponder, mailboxes[0], [customerMail({ from: 'crash@customer.example', to: mailboxes[0].user, subject: 'Crash test', messageId: 'crash-1@customer.example' })]);
    crashedWith = await doomed.exited;
    row = await env.db('outbox').where({ in_reply_to_message_row_id: rowId }).first();
  });

  test('worker process was killed', () => {
    assert.equal(crashedWith, 'SIGKILL');
  });

  test('row is pending after the crash', () => {
    assert.equal(row.state, 'pending');
  });

  test('new worker sends exactly once', async () => {
    worker = await startTestWorker({ temporalAddress: env.temporalAddress, db: env.db, secretKey: env.secretKey });
    // The lost activity is retried after its 30 s start-to-close timeout.
    await waitForOutboxState(env.db, row.id, ['sent', 'failed'], 120_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.deepEqual(await messageIdsReceived('crash@customer.example'), [`<${row.message_id}>`]);
  });

  test('row is sent after restart', async () => {
    assert.equal((await outboxRow(row.id)).state, 'sent');
  });
});

describe('uncertain delivery window', () => {
  before(async () => {
    replies = await createOutgoingQueue(env, mailboxes[1], { number: 2, title: 'Replies' });
    trusted = await createOutgoingQueue(env, mailboxes[2], {
      number: 3,
      title: 'Trusted',
      outgoing: { host: env.smtp.host, port: env.smtp.port, security: 'starttls-required', user: SMTP_LOGIN.user, password: SMTP_LOGIN.password, sslTrusted: true },
    });
    worker ??= await startTestWorker({ temporalAddress: env.temporalAddress, db: env.db, secretKey: env.secretKey });
    await startQueueWorkflow(env.client, replies);
    await startQueueWorkflow(env.client, trusted);
  });

  test('auto-response in sending fails uncertain', async () => {
    const ticketNumber = await ticketFor(replies, mailboxes[1], 'uncertain@customer.example');
    const ticket: { id: number; number: number; title: string } = await env.db('tickets').where({ number: ticketNumber }).first('id', 'number', 'title');
    const profile = await loadSendingProfile(env.db, replies.id);
    const queued = await env.db.transaction((trx) =>
      queueOutgoingMail(trx, {
        kind: 'autoresponse',
        idempotencyKey: `test-autoresponse:${ticket.id}`,
        profile,
        ticket,
        recipient: { name: '', address: 'uncertain@customer.example' },
        user: null,
        subject: 'Received',
        text: 'Received.',
        html: null,
        answered: null,
        headers: { 'Auto-Submitted': 'auto-replied' },
        attachments: [],
        tagTemplate: TAG_TEMPLATE,
      }),
    );
    await env.db('outbox').where({ id: queued.outboxId }).update({ state: 'sending', attempts: 1 });

    await startOutboxDelivery(env.client, queued.outboxId);
    const row = await waitForOutboxState(env.db, queued.outboxId, ['sent', 'failed']);
    assert.match(row.failure_reason ?? `(state ${row.state})`, /delivery uncertain/);
  });

  test('uncertain auto-response is not resent', () => {
    assert.equal(mailsTo(env.smtp, 'uncertain@customer.example').length, 0);
  });

  test('reply in sending resent once', async () => {
    const ticketNumber = await ticketFor(replies, mailboxes[1], 'resend@customer.example');
    const queued = await reply(ticketNumber);
    await env.db('outbox').where({ id: queued.outboxId }).update({ state: 'sending', attempts: 1 });

    await startOutboxDelivery(env.client, queued.outboxId);
    await waitForOutboxState(env.db, queued.outboxId, ['sent', 'failed']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(await messageIdsReceived('resend@customer.example'), [`<${queued.messageId}>`]);
  });

  test('stored outgoing message marks sent', async () => {
    const ticketNumber = await ticketFor(replies, mailboxes[1], 'stored@customer.example');
    const queued = await reply(ticketNumber);
    const workflowId = await startOutboxDelivery(env.client, queued.outboxId);
    // The first delivery must have ended, or the second start would attach to it.
    await env.client.workflow.getHandle(workflowId).result();
    await waitForMailsTo(env.smtp, 'stored@customer.example', 1);

    // As if the process died after storing the sent mail and before marking the row.
    await env.db('outbox').where({ id: queued.outboxId }).update({ state: 'sending', sent_at: null });
    await startOutboxDelivery(env.client, queued.outboxId);
    await waitForOutboxState(env.db, queued.outboxId, ['sent', 'failed']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(mailsTo(env.smtp, 'stored@customer.example').length, 1);
  });
});

describe('SMTP failures', () => {
  let rejected: OutboxRow;
  let rejectedTicket: number;

  before(async () => {
    rejectedTicket = await ticketFor(replies, mailboxes[1], 'reject@customer.example');
    const queued = await reply(rejectedTicket);
    await startOutboxDelivery(env.client, queued.outboxId);
    rejected = await waitForOutboxState(env.db, queued.outboxId, ['sent', 'failed']);
  });

  test('550 marks the row failed', () => {
    assert.equal(rejected.state, 'failed');
  });

  test('550 reason names the rejection', () => {
    assert.match(rejected.failure_reason ?? '', /PermanentDeliveryFailure: .*550/);
  });

  test('ticket view shows the failure', async () => {
    const view = await loadTicketView(env.db, rejectedTicket);
    const entry = view?.outbox.find((mail) => mail.id === rejected.id);
    assert.equal(entry?.state, 'failed');
    assert.equal(entry?.failureReason, rejected.failure_reason);
  });

  test('queue status shows the failure', async () => {
    await signalMailArrived(env.client, replies.number);
    const status = await waitFor('the queue status to count the failed row', async () => {
      const current = await queryQueueStatus(env.client, replies.number);
      return current && current.outbox.lastFailure?.outboxId === rejected.id ? current : undefined;
    });
    assert.ok(status.outbox.failed >= 1, `status counts ${status.outbox.failed} failed rows`);
    assert.equal(status.outbox.lastFailure?.reason, rejected.failure_reason);
  });

  describe('451 then accepted', () => {
    let outboxId: number;
    let deferred: OutboxRow;

    before(async () => {
      const queued = await reply(await ticketFor(replies, mailboxes[1], 'defer@customer.example'));
      outboxId = queued.outboxId;
      await startOutboxDelivery(env.client, outboxId);
      deferred = await waitFor('a deferred attempt', async () => {
        const row = await outboxRow(outboxId);
        return row.state === 'pending' && row.last_error !== null ? row : undefined;
      });
      deferring = false;
    });

    test('451 leaves the row pending', () => {
      assert.match(deferred.last_error ?? '', /451/);
    });

    test('451 nothing received meanwhile', () => {
      assert.equal(mailsTo(env.smtp, 'defer@customer.example').length, 0);
    });

    test('retry delivers exactly once', async () => {
      const row = await waitForOutboxState(env.db, outboxId, ['sent', 'failed'], 90_000);
      assert.equal(row.state, 'sent');
      assert.deepEqual(await messageIdsReceived('defer@customer.example'), [`<${row.message_id}>`]);
    });
  });
});

describe('SSL trusted setting', () => {
  test('trusted rejects self-signed certificate', async () => {
    const queued = await reply(await ticketFor(trusted, mailboxes[2], 'trusted@customer.example'));
    await startOutboxDelivery(env.client, queued.outboxId);
    const row = await waitForOutboxState(env.db, queued.outboxId, ['sent', 'failed']);
    assert.match(row.failure_reason ?? `(state ${row.state})`, /^CertificateRejected:/);
  });

  test('untrusted accepts self-signed certificate', async () => {
    const queued = await reply(await ticketFor(replies, mailboxes[1], 'untrusted@customer.example'));
    await startOutboxDelivery(env.client, queued.outboxId);
    const row = await waitForOutboxState(env.db, queued.outboxId, ['sent', 'failed']);
    assert.equal(row.state, 'sent');
    assert.equal(mailsTo(env.smtp, 'untrusted@customer.example')[0]?.secure, true);
  });
});
