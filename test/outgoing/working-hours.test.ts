import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import proto from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities, createOutboxActivities } from '../../src/activities/index.js';
import { TASK_QUEUE } from '../../src/config.js';
import type { QueueRecord } from '../../src/db/queues.js';
import { createTemplate } from '../../src/db/templates.js';
import { createTimeGroup } from '../../src/db/time-groups.js';
import { writeInstallationSetting } from '../../src/db/settings.js';
import { startDovecot, type DovecotServer } from '../../src/dev/dovecot.js';
import { findTemporalTestServer } from '../../src/dev/tools.js';
import { connectImap } from '../../src/mail/imap.js';
import { sendRawMail } from '../../src/mail/smtp.js';
import { workflowsPath } from '../../src/worker.js';
import { mailArrivedSignal, queueWorkflowId, statusQuery, type QueueStatus } from '../../src/workflows/queue-definitions.js';
import { emailQueueWorkflow } from '../../src/workflows/queue-workflow.js';
import { newSecretKey, startTestDatabase, testLogger, waitFor, type TestDatabase } from '../support/environment.js';
import { appendMessages } from '../support/imap-admin.js';
import { startCaptureSmtpServer, type CaptureSmtpServer } from '../support/smtp-capture.js';
import { createOutgoingQueue, customerMail, imapSettings, mailboxes, mailsTo, TAG_TEMPLATE } from './outgoing-environment.js';

// The time-skipping server starts at the real current time and only moves forward, so
// the test uses the first year whose spring change is still ahead. EU time zones switch
// to summer time on the last Sunday of March and back on the last Sunday of October,
// at 01:00 UTC: Prague is UTC+1 (CET) before the spring change and UTC+2 (CEST) after.
const DAY_MS = 24 * 60 * 60 * 1000;

function lastSundayUtc(year: number, monthIndex: number): number {
  const lastDay = Date.UTC(year, monthIndex + 1, 0);
  return lastDay - new Date(lastDay).getUTCDay() * DAY_MS;
}

function firstYearWithSpringAhead(nowMs: number): number {
  const year = new Date(nowMs).getUTCFullYear();
  // Leave a week of margin: the spring test starts on the Friday before the change.
  return lastSundayUtc(year, 2) - 7 * DAY_MS > nowMs ? year : year + 1;
}

const YEAR = firstYearWithSpringAhead(Date.now());
const SPRING_SUNDAY = lastSundayUtc(YEAR, 2);
const AUTUMN_SUNDAY = lastSundayUtc(YEAR, 9);

/** Returns the instant `days` after the Sunday of a change, at the UTC time `hhmmss`. */
function at(sunday: number, days: number, hhmmss: string): number {
  const [hours, minutes, seconds = '0'] = hhmmss.split(':');
  return sunday + days * DAY_MS + ((Number(hours) * 60 + Number(minutes)) * 60 + Number(seconds)) * 1000;
}

function iso(instant: number): string {
  return new Date(instant).toISOString();
}

function dateOf(instant: number): string {
  return iso(instant).slice(0, 10);
}

const SPRING_START = at(SPRING_SUNDAY, -2, '15:00'); // Friday 16:00 CET, open
const AUTUMN_START = at(AUTUMN_SUNDAY, -2, '14:00'); // Friday 16:00 CEST, open

let env: TestWorkflowEnvironment;
let database: TestDatabase;
let dovecot: DovecotServer;
let dovecotDir: string;
let smtp: CaptureSmtpServer;
let worker: Worker;
let workerRun: Promise<void>;
const secretKey = newSecretKey();

async function advanceTo(instantMs: number): Promise<void> {
  const now = await env.currentTimeMs();
  if (instantMs <= now) throw new Error(`Cannot move the test server back from ${new Date(now).toISOString()} to ${new Date(instantMs).toISOString()}`);
  await env.sleep(instantMs - now);
}

/** Queries the queue's status until `accept` returns true for it (15 s at most). */
async function statusOf(queue: QueueRecord, accept: (status: QueueStatus) => boolean = () => true): Promise<QueueStatus> {
  const handle = env.client.workflow.getHandle(queueWorkflowId(queue.number));
  return waitFor(`status of queue ${queue.number}`, async () => {
    const status = await handle.query(statusQuery);
    return accept(status) ? status : undefined;
  }, 15_000);
}

async function startQueue(queue: QueueRecord): Promise<void> {
  await env.client.workflow.start(emailQueueWorkflow, { workflowId: queueWorkflowId(queue.number), taskQueue: TASK_QUEUE, args: [{ queueId: queue.id }] });
  await statusOf(queue, (status) => status.counters.cycles >= 1);
}

/** Delivers one mail and returns the auto-response decision: the skip reason, or 'queued'. */
async function decisionFor(queue: QueueRecord, mailbox: (typeof mailboxes)[number], customer: string, messageId: string): Promise<string> {
  await appendMessages(imapSettings(dovecot, mailbox), 'INBOX', [customerMail({ from: customer, to: mailbox.user, subject: `Question ${messageId}`, messageId })]);
  await env.client.workflow.getHandle(queueWorkflowId(queue.number)).signal(mailArrivedSignal);
  const row = await waitFor(`decision on ${messageId}`, async () => {
    const found: { id: number; autoresponse_decided_at: Date | null } | undefined = await database.db('messages').where({ message_id: messageId }).first('id', 'autoresponse_decided_at');
    return found?.autoresponse_decided_at ? found : undefined;
  });
  const event: { kind: string; data: { reason?: string } } | undefined = await database.db('ticket_events').where({ message_row_id: row.id }).whereIn('kind', ['autoresponse-skipped', 'autoresponse-queued']).first('kind', 'data');
  return event?.kind === 'autoresponse-queued' ? 'queued' : (event?.data.reason ?? '(no decision event)');
}

before(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: findTemporalTestServer() } } });
  // The test server rejects custom search attributes until they are added, and the queue workflow sets three.
  const { IndexedValueType } = proto.temporal.api.enums.v1;
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: { QueueNumber: IndexedValueType.INDEXED_VALUE_TYPE_INT, QueueTitle: IndexedValueType.INDEXED_VALUE_TYPE_TEXT, QueueActive: IndexedValueType.INDEXED_VALUE_TYPE_BOOL },
  });
  database = await startTestDatabase();
  await writeInstallationSetting(database.db, 'ticketTagTemplate', TAG_TEMPLATE);
  dovecotDir = await mkdtemp(join(tmpdir(), 'mq-wh-'));
  dovecot = await startDovecot({ dir: dovecotDir, users: mailboxes, logger: testLogger });
  smtp = await startCaptureSmtpServer({ mode: 'plain' });

  const deps = { db: database.db, logger: testLogger, connectImap, sendRawMail, secretKey: () => secretKey };
  worker = await Worker.create({ connection: env.nativeConnection, taskQueue: TASK_QUEUE, workflowsPath, activities: { ...createActivities(deps), ...createOutboxActivities(deps) } });
  workerRun = worker.run();

  await createTemplate(database.db, { name: 'ack', kind: 'autoresponse', subject: 'Received', text: 'Ticket {{ticket.number}}.\n' });
  await createTimeGroup(database.db, {
    name: 'prague-office',
    timeZone: 'Europe/Prague',
    weekly: [1, 2, 3, 4, 5].map((day) => ({ day: day as 1 | 2 | 3 | 4 | 5, open: '08:00', close: '17:00' })),
    exceptions: [
      { date: dateOf(at(SPRING_SUNDAY, 1, '12:00')), open: false, note: 'test holiday after the spring change' },
      { date: dateOf(at(AUTUMN_SUNDAY, 1, '12:00')), open: false, note: 'test holiday after the autumn change' },
    ],
  });
});

after(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await workerRun;
  await env?.teardown();
  await smtp?.close();
  await dovecot?.stop();
  if (dovecotDir) await rm(dovecotDir, { recursive: true, force: true });
  await database?.stop();
});

function queueFile(number: number): Parameters<typeof createOutgoingQueue>[2] {
  return {
    number,
    title: `Office ${number}`,
    autoresponseTemplate: 'ack',
    timeGroup: 'prague-office',
    pollIntervalSeconds: 86_400,
    outgoing: { host: smtp.host, port: smtp.port, security: 'none' },
  };
}

describe('spring change in Prague', () => {
  let queue: QueueRecord;

  before(async () => {
    await advanceTo(SPRING_START);
    queue = await createOutgoingQueue({ db: database.db, secretKey, dovecot, smtp }, mailboxes[0], queueFile(1));
    await startQueue(queue);
  });

  after(async () => {
    await env.client.workflow.getHandle(queueWorkflowId(queue.number)).terminate('spring checks done');
  });

  test('open on Friday afternoon', async () => {
    const status = await statusOf(queue);
    assert.equal(status.open, true);
    assert.equal(status.nextOpenChangeAt, iso(at(SPRING_SUNDAY, -2, '16:00:00')));
  });

  test('closed after Friday 17:00', async () => {
    await advanceTo(at(SPRING_SUNDAY, -2, '16:00:05'));
    const status = await statusOf(queue, (current) => current.open === false);
    assert.equal(status.nextOpenChangeAt, iso(at(SPRING_SUNDAY, 2, '06:00:00')));
  });

  test('weekend mail gets no response', async () => {
    await advanceTo(at(SPRING_SUNDAY, -1, '10:00:00'));
    assert.equal(await decisionFor(queue, mailboxes[0], 'weekend@customer.example', 'weekend-1@customer.example'), 'outside-working-hours');
  });

  test('holiday Monday stays closed', async () => {
    await advanceTo(at(SPRING_SUNDAY, 1, '07:00:00'));
    const status = await statusOf(queue);
    assert.equal(status.open, false);
    assert.equal(status.nextOpenChangeAt, iso(at(SPRING_SUNDAY, 2, '06:00:00')));
  });

  test('holiday mail gets no response', async () => {
    assert.equal(await decisionFor(queue, mailboxes[0], 'holiday@customer.example', 'holiday-1@customer.example'), 'outside-working-hours');
  });

  test('still closed just before 08:00 CEST', async () => {
    await advanceTo(at(SPRING_SUNDAY, 2, '05:59:50'));
    assert.equal((await statusOf(queue)).open, false);
  });

  test('opens at 08:00 CEST', async () => {
    await advanceTo(at(SPRING_SUNDAY, 2, '06:00:05'));
    const status = await statusOf(queue, (current) => current.open === true);
    assert.equal(status.nextOpenChangeAt, iso(at(SPRING_SUNDAY, 2, '15:00:00')));
  });

  test('Tuesday mail gets a response', async () => {
    assert.equal(await decisionFor(queue, mailboxes[0], 'tuesday@customer.example', 'tuesday-1@customer.example'), 'queued');
  });

  test('Tuesday response is delivered', async () => {
    const mails = await waitFor('the Tuesday auto-response', async () => (mailsTo(smtp, 'tuesday@customer.example').length > 0 ? mailsTo(smtp, 'tuesday@customer.example') : undefined));
    assert.equal(mails.length, 1);
  });
});

describe('autumn change in Prague', () => {
  let queue: QueueRecord;

  before(async () => {
    await advanceTo(AUTUMN_START);
    queue = await createOutgoingQueue({ db: database.db, secretKey, dovecot, smtp }, mailboxes[1], queueFile(2));
    await startQueue(queue);
  });

  after(async () => {
    await env.client.workflow.getHandle(queueWorkflowId(queue.number)).terminate('autumn checks done');
  });

  test('open on Friday afternoon', async () => {
    const status = await statusOf(queue);
    assert.equal(status.open, true);
    assert.equal(status.nextOpenChangeAt, iso(at(AUTUMN_SUNDAY, -2, '15:00:00')));
  });

  test('closed over the weekend', async () => {
    await advanceTo(at(AUTUMN_SUNDAY, -1, '10:00:00'));
    const status = await statusOf(queue, (current) => current.open === false);
    // The Monday after the change is the holiday; Tuesday 08:00 CET is 07:00 UTC.
    assert.equal(status.nextOpenChangeAt, iso(at(AUTUMN_SUNDAY, 2, '07:00:00')));
  });

  test('weekend mail gets no response', async () => {
    assert.equal(await decisionFor(queue, mailboxes[1], 'autumn-weekend@customer.example', 'autumn-weekend-1@customer.example'), 'outside-working-hours');
  });

  test('holiday Monday stays closed', async () => {
    await advanceTo(at(AUTUMN_SUNDAY, 1, '09:00:00'));
    assert.equal((await statusOf(queue)).open, false);
  });

  test('still closed at 07:00 CET', async () => {
    await advanceTo(at(AUTUMN_SUNDAY, 2, '06:00:05'));
    assert.equal((await statusOf(queue)).open, false);
  });

  test('opens at 08:00 CET', async () => {
    await advanceTo(at(AUTUMN_SUNDAY, 2, '07:00:05'));
    const status = await statusOf(queue, (current) => current.open === true);
    assert.equal(status.nextOpenChangeAt, iso(at(AUTUMN_SUNDAY, 2, '16:00:00')));
  });

  test('Tuesday mail gets a response', async () => {
    assert.equal(await decisionFor(queue, mailboxes[1], 'autumn-tuesday@customer.example', 'autumn-tuesday-1@customer.example'), 'queued');
  });
});
