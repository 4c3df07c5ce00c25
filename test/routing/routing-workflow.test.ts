import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { QueryNotRegisteredError } from '@temporalio/client';

import { routePendingMessages } from '../../src/activities/route.js';
import { queryQueueStatus, startQueueWorkflow } from '../../src/client/queue-control.js';
import { createCategory } from '../../src/db/categories.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { createRoutingRule } from '../../src/db/routing-rules.js';
import { loadTicketView, type TicketView } from '../../src/db/ticket-views.js';
import type { QueueStatus } from '../../src/workflows/queue-definitions.js';
import { appendMessages } from '../support/imap-admin.js';
import {
  newSecretKey,
  startTestDatabase,
  startTestDovecot,
  startTestTemporal,
  startTestWorker,
  testLogger,
  waitFor,
  type RunningWorker,
  type TestDatabase,
  type TestMailServer,
  type TestTemporal,
} from '../support/environment.js';
import { adminSettings, queueConfigFor, type TestMailbox } from '../workflows/fixtures.js';

const box: TestMailbox = { user: 'routing@desk.example.com', password: 'routing-Pw-3e9a' };
const QUEUE_NUMBER = 21;

/** Builds a plain-text message with CRLF line ends; `inReplyTo` makes it a reply. */
function mail(options: { id: string; from: string; subject: string; body: string; inReplyTo?: string }): Buffer {
  return Buffer.from(
    [
      `From: ${options.from}`,
      `To: ${box.user}`,
      `Subject: ${options.subject}`,
      `Message-ID: <${options.id}@customer.example.org>`,
      ...(options.inReplyTo ? [`In-Reply-To: <${options.inReplyTo}@customer.example.org>`] : []),
      'Date: Mon, 02 Mar 2026 10:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      options.body,
      '',
    ].join('\r\n'),
  );
}

describe('routing rules in a running queue', () => {
  let database: TestDatabase;
  let temporal: TestTemporal;
  let mailServer: TestMailServer;
  let worker: RunningWorker;
  let queue: QueueRecord;
  let reached: QueueStatus;
  const secretKey = newSecretKey();
  const ruleIds: Record<string, number> = {};

  const ticketOf = async (messageId: string): Promise<TicketView> => {
    const row: { number: number } = await database.db('messages as message')
      .join('tickets as ticket', 'ticket.id', 'message.ticket_id')
      .where('message.message_id', `${messageId}@customer.example.org`)
      .first('ticket.number');
    const view = await loadTicketView(database.db, row.number);
    assert.ok(view !== null);
    return view;
  };

  before(async () => {
    database = await startTestDatabase();
    temporal = await startTestTemporal();
    mailServer = await startTestDovecot([box]);
    worker = await startTestWorker({ temporalAddress: temporal.address, db: database.db, secretKey });

    const server = { host: mailServer.dovecot.host, port: mailServer.dovecot.imapPort };
    // Saving the queue creates its category "Support".
    queue = await createQueue(database.db, secretKey, { ...queueConfigFor(QUEUE_NUMBER, box, server), category: 'Support' });
    await createCategory(database.db, { name: 'Billing' });
    await database.db('statuses').insert({ name: 'escalated', description: 'Needs a lead' });

    const invoices = await createRoutingRule(database.db, {
      name: 'Invoices to billing',
      queues: [QUEUE_NUMBER],
      conditions: [{ field: 'subject', operator: 'regex', value: 'invoice (\\d+)' }],
      actions: [
        { type: 'setCategory', category: 'Billing' },
        { type: 'setPriority', priority: 'high' },
        { type: 'setCustomField', field: 'invoiceNumber', value: '$1' },
      ],
    });
    const urgentReplies = await createRoutingRule(database.db, {
      name: 'Urgent replies',
      runOnReplies: true,
      conditions: [{ field: 'body', operator: 'contains', value: 'URGENT' }],
      actions: [
        { type: 'setPriority', priority: 'urgent' },
        { type: 'addStatuses', statuses: ['escalated'] },
      ],
    });
    const callbacks = await createRoutingRule(database.db, {
      name: 'Callback requests',
      conditions: [{ field: 'body', operator: 'contains', value: 'please call' }],
      actions: [{ type: 'setStage', stage: 'callback' }],
    });
    Object.assign(ruleIds, { invoices: invoices.id, urgentReplies: urgentReplies.id, callbacks: callbacks.id });

    await appendMessages(adminSettings(server.host, server.port, box), 'INBOX', [
      mail({ id: 'invoice-question', from: 'Anna <anna@customer.example.org>', subject: 'Question about invoice 4711', body: 'The amount looks wrong.' }),
      mail({ id: 'plain-hello', from: 'Ben <ben@customer.example.org>', subject: 'Hello', body: 'Just saying hello.' }),
      mail({ id: 'invoice-reply', from: 'Anna <anna@customer.example.org>', subject: 'Re: Question about invoice 4711', body: 'This is urgent, please call me.', inReplyTo: 'invoice-question' }),
      mail({ id: 'callback', from: 'Cleo <cleo@customer.example.org>', subject: 'Phone', body: 'Could you please call me back?' }),
    ]);
    await startQueueWorkflow(temporal.client, queue);
    reached = await waitFor('four messages routed', async () => {
      const value = await queryQueueStatus(temporal.client, QUEUE_NUMBER).catch((error: unknown) => {
        if (error instanceof QueryNotRegisteredError) return null;
        throw error;
      });
      return value !== null && value.counters.routed >= 4 ? value : undefined;
    });
  });

  after(async () => {
    await worker?.stop();
    await mailServer?.stop();
    await temporal?.stop();
    await database?.stop();
  });

  test('status counts routed messages', () => {
    assert.equal(reached.counters.routed, 4);
    assert.equal(reached.counters.routedMatched, 3);
    assert.equal(reached.counters.newTickets, 3);
    assert.equal(reached.counters.replies, 1);
  });

  test('a rule sets category and captured field', async () => {
    const view = await ticketOf('invoice-question');
    assert.equal(view.ticket.category, 'Billing');
    assert.deepEqual(view.ticket.customFields, { invoiceNumber: '4711' });
  });

  test('unmatched mail keeps the queue category', async () => {
    const view = await ticketOf('plain-hello');
    assert.equal(view.ticket.category, 'Support');
    assert.equal(view.ticket.priority, 'normal');
    assert.equal(view.ticket.stage, null);
    assert.deepEqual(view.ticket.extraStatuses, []);
    assert.deepEqual(view.routing, []);
  });

  test('a reply runs only runOnReplies rules', async () => {
    const view = await ticketOf('invoice-reply');
    assert.equal(view.ticket.priority, 'urgent');
    assert.deepEqual(view.ticket.extraStatuses, ['escalated']);
    // The reply contains "please call", but that rule does not run on replies.
    assert.equal(view.ticket.stage, null);
  });

  test('the same rule runs on new mail', async () => {
    const view = await ticketOf('callback');
    assert.equal(view.ticket.stage, 'callback');
    assert.equal(view.ticket.category, 'Support');
  });

  test('the ticket shows its routing trail', async () => {
    const view = await ticketOf('invoice-question');
    const messageRowIds = view.messages.map((message) => message.id);
    assert.equal(view.routing.length, 2);
    assert.deepEqual(view.routing.map((entry) => entry.rules.map((rule) => rule.id)), [[ruleIds.invoices], [ruleIds.urgentReplies]]);
    assert.deepEqual(view.routing.map((entry) => entry.messageRowId), messageRowIds);
    assert.deepEqual(view.routing[0].changes, { category: 'Billing', priority: 'high', customFields: { invoiceNumber: '4711' } });
    assert.deepEqual(view.routing[1].changes, { priority: 'urgent', addStatuses: ['escalated'] });
    assert.equal(view.routing[0].rules[0].name, 'Invoices to billing');
  });

  test('routing again changes nothing', async () => {
    const eventsBefore = await database.db('ticket_events').where({ kind: 'routing' }).count<{ count: string }>('id as count').first();
    const again = await routePendingMessages(database.db, queue.id, null, testLogger);
    const eventsAfter = await database.db('ticket_events').where({ kind: 'routing' }).count<{ count: string }>('id as count').first();
    assert.deepEqual(again, { routed: 0, matched: 0, more: false });
    assert.equal(eventsAfter?.count, eventsBefore?.count);
    const unrouted = await database.db('messages').where({ queue_id: queue.id, direction: 'incoming' }).whereNull('routed_at').count<{ count: string }>('id as count').first();
    assert.equal(Number(unrouted?.count), 0);
  });
});
