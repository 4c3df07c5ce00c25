import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { simpleParser, type ParsedMail } from 'mailparser';
import { createSampleEventWorker, SAMPLE_EVENT_TASK_QUEUE } from '../../examples/postprocessing-event/worker.js';
import { composeAgentReply } from '../../src/activities/reply.js';
import { startOutboxDelivery, startQueueWorkflow } from '../../src/client/queue-control.js';
import type { QueueRecord } from '../../src/db/queues.js';
import { createTemplate } from '../../src/db/templates.js';
import { createUser } from '../../src/db/users.js';
import { testLogger } from '../support/environment.js';
import { createOutgoingQueue, customerMail, deliverToQueue, mailboxes, mailsTo, SMTP_LOGIN, startOutgoingEnvironment, waitForMailsTo, waitForOutboxState, type OutboxRow, type OutgoingEnvironment } from './outgoing-environment.js';

let env: OutgoingEnvironment;
let eventWorker: Worker;
let eventRun: Promise<void>;
let reviewed: QueueRecord;

/** Delivers a customer mail to `queue` and returns its auto-response row once it is sent or failed. */
async function autoresponseRow(queue: QueueRecord, mailbox: (typeof mailboxes)[number], customer: string): Promise<OutboxRow> {
  const [rowId] = await deliverToQueue(env, queue, mailbox, [customerMail({ from: customer, to: mailbox.user, subject: 'Need help', messageId: `${customer.replace('@', '.')}@customer.example` })]);
  const row: OutboxRow | undefined = await env.db('outbox').where({ in_reply_to_message_row_id: rowId }).first();
  assert.ok(row, `no auto-response queued for ${customer}`);
  return waitForOutboxState(env.db, row.id, ['sent', 'failed'], 60_000);
}

before(async () => {
  env = await startOutgoingEnvironment({ smtp: { mode: 'starttls', auth: SMTP_LOGIN } });
  eventWorker = await createSampleEventWorker(env.temporalAddress, 'default', SAMPLE_EVENT_TASK_QUEUE);
  eventRun = eventWorker.run();
  await createTemplate(env.db, { name: 'ack', kind: 'autoresponse', subject: 'Received', text: 'Ticket {{ticket.number}} is open.\n' });
  await createUser(env.db, { alias: 'agent', email: 'agent@helpdesk.example.com', name: 'Agent' });
  reviewed = await createOutgoingQueue(env, mailboxes[0], { number: 1, autoresponseTemplate: 'ack', postprocessing: { workflowType: 'subjectPrefixEvent', taskQueue: SAMPLE_EVENT_TASK_QUEUE, timeoutSeconds: 30 } });
  await startQueueWorkflow(env.client, reviewed);
});

after(async () => {
  if (eventWorker?.getState() === 'RUNNING') eventWorker.shutdown();
  await eventRun;
  await env?.stop();
});

describe('sample event on auto-response', () => {
  let row: OutboxRow;
  let parsed: ParsedMail;

  before(async () => {
    row = await autoresponseRow(reviewed, mailboxes[0], 'lena@customer.example');
    parsed = await simpleParser((await waitForMailsTo(env.smtp, 'lena@customer.example', 1))[0].raw);
  });

  test('row is sent', () => {
    assert.equal(row.state, 'sent');
  });

  test('subject has the Reviewed prefix', () => {
    assert.match(parsed.subject ?? '', /^\[Reviewed\] \[Ticket#\d+\] Received$/);
  });

  test('Message-ID stays the same', () => {
    assert.equal(parsed.messageId, `<${row.message_id}>`);
  });
});

describe('sample event on agent reply', () => {
  let row: OutboxRow;
  let parsed: ParsedMail;

  before(async () => {
    await deliverToQueue(env, reviewed, mailboxes[0], [customerMail({ from: 'milan@customer.example', to: mailboxes[0].user, subject: 'Broken screen', messageId: 'milan-1@customer.example' })]);
    const ticket: { number: number } = await env.db('tickets').where({ requester_address: 'milan@customer.example' }).first('number');
    // The auto-response to milan goes out first; the reply is the second mail.
    await waitForMailsTo(env.smtp, 'milan@customer.example', 1);
    const queued = await composeAgentReply(env.db, { ticketNumber: ticket.number, userAlias: 'agent', text: 'Replaced.', html: null, attachments: [] }, testLogger);
    await startOutboxDelivery(env.client, queued.outboxId);
    row = await waitForOutboxState(env.db, queued.outboxId, ['sent', 'failed']);
    const mails = await waitForMailsTo(env.smtp, 'milan@customer.example', 2);
    parsed = await simpleParser(mails[1].raw);
  });

  test('row is sent', () => {
    assert.equal(row.state, 'sent');
  });

  test('subject has the Reviewed prefix', () => {
    assert.match(parsed.subject ?? '', /^\[Reviewed\] Re: \[Ticket#\d+\] Broken screen$/);
  });

  test('Message-ID stays the same', () => {
    assert.equal(parsed.messageId, `<${row.message_id}>`);
  });
});

describe('misconfigured event', () => {
  const cases = [
    { label: 'unregistered workflow type', mailbox: mailboxes[1], number: 2, workflowType: 'noSuchEvent', taskQueue: SAMPLE_EVENT_TASK_QUEUE, customer: 'nina@customer.example' },
    { label: 'unpolled task queue', mailbox: mailboxes[2], number: 3, workflowType: 'subjectPrefixEvent', taskQueue: 'nobody-polls-this', customer: 'otto@customer.example' },
  ];

  for (const entry of cases) {
    describe(entry.label, () => {
      let row: OutboxRow;
      let raw: Buffer;

      before(async () => {
        const queue = await createOutgoingQueue(env, entry.mailbox, { number: entry.number, autoresponseTemplate: 'ack', postprocessing: { workflowType: entry.workflowType, taskQueue: entry.taskQueue, timeoutSeconds: 5 } });
        await startQueueWorkflow(env.client, queue);
        row = await autoresponseRow(queue, entry.mailbox, entry.customer);
        raw = (await env.db('outbox').where({ id: row.id }).first('raw')).raw;
      });

      test('row is failed', () => {
        assert.equal(row.state, 'failed');
      });

      test('reason names type and queue', () => {
        assert.match(row.failure_reason ?? '', new RegExp(`${entry.workflowType} on task queue ${entry.taskQueue}`));
      });

      test('nothing is sent', () => {
        assert.equal(mailsTo(env.smtp, entry.customer).length, 0);
      });

      test('composed mail is kept', () => {
        assert.match(raw.toString('utf8'), new RegExp(`Message-ID: <${row.message_id.replace(/[.]/g, '\\.')}>`, 'i'));
      });
    });
  }
});
