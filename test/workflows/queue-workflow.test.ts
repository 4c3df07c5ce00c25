import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { QueryNotRegisteredError } from '@temporalio/client';

import { queryQueueStatus, signalConfigChanged, signalMailArrived, signalSetActive, startQueueWorkflow } from '../../src/client/queue-control.js';
import { createQueue, softDeleteQueue, type QueueRecord } from '../../src/db/queues.js';
import type { CarriedQueueState, QueueStatus } from '../../src/workflows/queue-definitions.js';
import { queueActiveKey } from '../../src/workflows/search-attributes.js';
import { appendMessages, listUids } from '../support/imap-admin.js';
import {
  newSecretKey,
  startTestDatabase,
  startTestDovecot,
  startTestTemporal,
  startTestWorker,
  waitFor,
  type RunningWorker,
  type TestDatabase,
  type TestMailServer,
  type TestTemporal,
} from '../support/environment.js';
import { adminSettings, countRows, customerMessage, historyJson, pause, queueConfigFor, workflowIdOf, type TestMailbox } from './fixtures.js';

const flowBox: TestMailbox = { user: 'flow@desk.example.com', password: 'flow-Pw-4b1e' };
const pauseBox: TestMailbox = { user: 'pause@desk.example.com', password: 'pause-Pw-7c2d' };
const authBox: TestMailbox = { user: 'auth@desk.example.com', password: 'auth-right-Pw-9e3f' };
const tlsBox: TestMailbox = { user: 'tls@desk.example.com', password: 'tls-Pw-2a8b' };
const purgeBox: TestMailbox = { user: 'purge@desk.example.com', password: 'purge-Pw-6d0c' };
/** Password of the wrong-password queue; Dovecot accepts only authBox.password. */
const wrongPassword = 'auth-WRONG-Pw-5f7a';
const allPasswords = [flowBox, pauseBox, authBox, tlsBox, purgeBox].map((box) => box.password).concat(wrongPassword);

describe('queue workflow', () => {
  let database: TestDatabase;
  let temporal: TestTemporal;
  let mail: TestMailServer;
  let worker: RunningWorker;
  const secretKey = newSecretKey();

  const plain = (): { host: string; port: number } => ({ host: mail.dovecot.host, port: mail.dovecot.imapPort });
  const status = async (number: number): Promise<QueueStatus> => {
    const found = await queryQueueStatus(temporal.client, number);
    assert.ok(found !== null, `queue ${number} has no running workflow`);
    return found;
  };
  const waitForStatus = (number: number, description: string, accept: (value: QueueStatus) => boolean, timeoutMs = 20_000): Promise<QueueStatus> =>
    waitFor(description, async () => {
      const value = await queryQueueStatus(temporal.client, number).catch((error: unknown) => {
        // The workflow registers `status` after its first settings load; until then, retry.
        if (error instanceof QueryNotRegisteredError) return null;
        throw error;
      });
      return value !== null && accept(value) ? value : undefined;
    }, timeoutMs);

  before(async () => {
    database = await startTestDatabase();
    temporal = await startTestTemporal();
    mail = await startTestDovecot([flowBox, pauseBox, authBox, tlsBox, purgeBox], { tls: true });
    worker = await startTestWorker({ temporalAddress: temporal.address, db: database.db, secretKey });
  });

  after(async () => {
    await worker?.stop();
    await mail?.stop();
    await temporal?.stop();
    await database?.stop();
  });

  describe('fetching', () => {
    let queue: QueueRecord;
    let uids: number[];

    before(async () => {
      queue = await createQueue(database.db, secretKey, queueConfigFor(11, flowBox, plain()));
      uids = await appendMessages(adminSettings(plain().host, plain().port, flowBox), 'INBOX', [1, 2].map((index) => customerMessage('flow', index, flowBox.user)));
      await startQueueWorkflow(temporal.client, queue);
    });

    test('new mail becomes tickets', async () => {
      // The cycle goes on after threading (routing, auto-responses), so wait for its end.
      const reached = await waitForStatus(11, 'two new tickets and a finished cycle', (value) => value.counters.newTickets >= 2 && value.counters.cycles >= 1);
      assert.equal(await countRows(database.db, 'tickets', { queue_id: queue.id }), 2);
      assert.equal(reached.counters.stored, 2);
      assert.equal(reached.counters.newTickets, 2);
      assert.equal(reached.lastError, null);
    });

    test('status shows cursor and fetch time', async () => {
      // The poll time is set when the cycle ends, after the activity steps that follow threading.
      const current = await waitForStatus(11, 'the first cycle finished', (value) => value.counters.cycles >= 1);
      const cursorRow: { uid_validity: string } = await database.db('mailbox_cursors').where({ queue_id: queue.id, folder: 'INBOX' }).first('uid_validity');
      assert.equal(current.cursor?.folder, 'INBOX');
      assert.equal(current.cursor?.uidValidity, cursorRow.uid_validity);
      assert.equal(current.cursor?.lastUid, uids[uids.length - 1]);
      assert.notEqual(current.lastFetchAt, null);
      assert.ok(Date.now() - Date.parse(current.lastFetchAt ?? '') < 60_000, `lastFetchAt ${current.lastFetchAt} is not recent`);
      assert.equal(current.active, true);
      assert.notEqual(current.nextPollAt, null);
      assert.ok(Date.parse(current.nextPollAt ?? '') > Date.now() + 3_000_000, `nextPollAt ${current.nextPollAt} ignores the 3600 s poll interval`);
    });

    test('second start is a no-op', async () => {
      const handle = temporal.client.workflow.getHandle(workflowIdOf(11));
      const before = await handle.describe();
      const outcome = await startQueueWorkflow(temporal.client, queue);
      const afterwards = await handle.describe();
      assert.equal(outcome.started, false);
      assert.equal(afterwards.runId, before.runId);
    });

    test('carried state is plain JSON', async () => {
      // What continue-as-new carries, built from a real run's status.
      const current = await status(11);
      const carried: CarriedQueueState = { counters: current.counters, lastFetchAt: current.lastFetchAt, lastError: current.lastError, cursor: current.cursor };
      assert.deepEqual(JSON.parse(JSON.stringify(carried)), carried);
    });
  });

  describe('pause and resume', () => {
    let queue: QueueRecord;

    before(async () => {
      queue = await createQueue(database.db, secretKey, queueConfigFor(12, pauseBox, plain()));
      await startQueueWorkflow(temporal.client, queue);
      await waitForStatus(12, 'first cycle', (value) => value.counters.cycles >= 1);
    });

    test('paused queue fetches nothing', async () => {
      await signalSetActive(temporal.client, 12, false);
      await waitForStatus(12, 'active false', (value) => !value.active);
      await appendMessages(adminSettings(plain().host, plain().port, pauseBox), 'INBOX', [customerMessage('pause', 1, pauseBox.user)]);
      await signalMailArrived(temporal.client, 12);
      await pause(3_000);
      assert.equal(await countRows(database.db, 'messages', { queue_id: queue.id }), 0);
      assert.equal((await status(12)).active, false);
    });

    test('paused search attribute is false', async () => {
      const handle = temporal.client.workflow.getHandle(workflowIdOf(12));
      const value = await waitFor('QueueActive false', async () => {
        const attribute = (await handle.describe()).typedSearchAttributes.get(queueActiveKey);
        return attribute === false ? attribute : undefined;
      }, 10_000);
      assert.equal(value, false);
    });

    test('resume fetches at once', async () => {
      const resumedAt = Date.now();
      await signalSetActive(temporal.client, 12, true);
      await waitFor('the message stored after resume', async () => ((await countRows(database.db, 'messages', { queue_id: queue.id })) === 1 ? true : undefined), 10_000);
      // The poll interval is an hour: only the resume itself can have fetched.
      assert.ok(Date.now() - resumedAt < 10_000);
      const attribute = (await temporal.client.workflow.getHandle(workflowIdOf(12)).describe()).typedSearchAttributes.get(queueActiveKey);
      assert.equal(attribute, true);
    });

    test('deleted queue ends inactive', async () => {
      const handle = temporal.client.workflow.getHandle(workflowIdOf(12));
      assert.equal((await handle.describe()).typedSearchAttributes.get(queueActiveKey), true);

      await softDeleteQueue(database.db, queue.id);
      await signalConfigChanged(temporal.client, 12);
      await handle.result();

      const description = await handle.describe();
      assert.equal(description.status.name, 'COMPLETED');
      assert.equal(description.typedSearchAttributes.get(queueActiveKey), false);
    });
  });

  // Both wait out the activity's three attempts (about 15 s), so they run side by side.
  describe('failing mailboxes', { concurrency: true }, () => {
    test('wrong password is reported, not spun', async () => {
      const startedAt = Date.now();
      const queue = await createQueue(database.db, secretKey, { ...queueConfigFor(13, { user: authBox.user, password: wrongPassword }, plain()), pollIntervalSeconds: 10 });
      await startQueueWorkflow(temporal.client, queue);
      const failed = await waitForStatus(13, 'AuthenticationFailed in status', (value) => value.lastError !== null, 40_000);
      assert.equal(failed.lastError?.type, 'AuthenticationFailed');
      assert.ok(failed.lastError?.message.includes(authBox.user), `message does not name the user: ${failed.lastError?.message}`);

      // Observe about 20 s in all: three attempts, then the workflow's own wait.
      await pause(Math.max(0, 20_000 - (Date.now() - startedAt)));
      const handle = temporal.client.workflow.getHandle(workflowIdOf(13));
      assert.equal((await handle.describe()).status.name, 'RUNNING');
      const authFailures = mail.dovecot.logTail().split('\n').filter((line) => line.includes('auth failed') && line.includes(authBox.user)).length;
      assert.ok(authFailures >= 1, 'Dovecot logged no failed login for the queue');
      assert.ok(authFailures <= 4, `${authFailures} failed logins in 20 s`);
      const history = await handle.fetchHistory();
      const fetchesScheduled = (history.events ?? []).filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'fetchNewMail').length;
      assert.ok(fetchesScheduled <= 2, `${fetchesScheduled} fetch activities scheduled in 20 s`);
    });

    test('password not in history', async () => {
      await waitForStatus(13, 'a failed cycle', (value) => value.counters.failedCycles >= 1, 40_000);
      const history = await historyJson(temporal.client, workflowIdOf(13));
      const statusText = JSON.stringify(await status(13));
      for (const password of allPasswords) {
        assert.equal(history.includes(password), false, 'a password is in the workflow history');
        assert.equal(statusText.includes(password), false, 'a password is in the status');
      }
    });

    test('trusted ssl rejects self-signed', async () => {
      const imaps = { host: mail.dovecot.host, port: mail.dovecot.imapsPort ?? 0 };
      const queue = await createQueue(database.db, secretKey, queueConfigFor(14, tlsBox, imaps, { ssl: true, sslTrusted: true }));
      await appendMessages(adminSettings(plain().host, plain().port, tlsBox), 'INBOX', [customerMessage('tls', 1, tlsBox.user)]);
      await startQueueWorkflow(temporal.client, queue);
      const failed = await waitForStatus(14, 'an error in status', (value) => value.lastError !== null, 40_000);
      assert.equal(failed.lastError?.type, 'CertificateRejected');
      assert.equal(await countRows(database.db, 'messages', { queue_id: queue.id }), 0);
    });

    test('untrusted ssl stores mail', async () => {
      const imaps = { host: mail.dovecot.host, port: mail.dovecot.imapsPort ?? 0 };
      const queue = await createQueue(database.db, secretKey, queueConfigFor(15, tlsBox, imaps, { ssl: true, sslTrusted: false }));
      await waitFor('the tls message appended', async () => ((await listUids(adminSettings(plain().host, plain().port, tlsBox), 'INBOX')).length > 0 ? true : undefined), 30_000);
      await startQueueWorkflow(temporal.client, queue);
      await waitFor('the message stored over imaps', async () => ((await countRows(database.db, 'messages', { queue_id: queue.id })) === 1 ? true : undefined), 20_000);
      assert.equal((await status(15)).lastError, null);
    });
  });

  describe("don't keep emails", () => {
    let queue: QueueRecord;

    before(async () => {
      queue = await createQueue(database.db, secretKey, queueConfigFor(16, purgeBox, plain(), { dontKeepEmails: true }));
      await appendMessages(adminSettings(plain().host, plain().port, purgeBox), 'INBOX', [1, 2, 3].map((index) => customerMessage('purge', index, purgeBox.user)));
      await startQueueWorkflow(temporal.client, queue);
      await waitForStatus(16, 'three deleted from server', (value) => value.counters.deletedFromServer >= 3);
    });

    test('server copies deleted after storing', async () => {
      assert.deepEqual(await listUids(adminSettings(plain().host, plain().port, purgeBox), 'INBOX'), []);
      assert.equal(await countRows(database.db, 'messages', { queue_id: queue.id }), 3);
    });

    test('deleted only after the row committed', async () => {
      const items: Array<{ deleted_from_server_at: Date | null; created_at: Date }> = await database.db('mailbox_items as item')
        .join('messages as message', 'message.id', 'item.message_row_id')
        .where('item.queue_id', queue.id)
        .select('item.deleted_from_server_at', 'message.created_at');
      assert.equal(items.length, 3);
      for (const item of items) {
        assert.notEqual(item.deleted_from_server_at, null);
        assert.ok((item.deleted_from_server_at ?? new Date(0)) >= item.created_at, 'a server copy was deleted before its row was stored');
      }
    });
  });
});
