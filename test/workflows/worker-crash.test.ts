import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';

import { startQueueWorkflow } from '../../src/client/queue-control.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { findTemporalCli } from '../../src/dev/tools.js';
import { generateSecretKey, parseSecretKey } from '../../src/secrets.js';
import { appendMessages, listUids } from '../support/imap-admin.js';
import { startTestDatabase, startTestDovecot, startTestTemporal, waitFor, type TestDatabase, type TestMailServer, type TestTemporal } from '../support/environment.js';
import { cliPath, mailqueueEnvironment } from '../client/cli-process.js';
import { adminSettings, countRows, customerMessage, queueConfigFor, workflowIdOf, type TestMailbox } from './fixtures.js';

const crashBox: TestMailbox = { user: 'crash@desk.example.com', password: 'crash-Pw-8e2a' };
const MESSAGE_COUNT = 40;
const execFileAsync = promisify(execFile);

/** Heartbeat timeout (shortened to 2 s), retry interval, sticky queue timeout, then the batch. */
const RECOVERY_TIMEOUT_MS = 60_000;

describe('worker killed mid-batch', () => {
  let database: TestDatabase;
  let temporal: TestTemporal;
  let mail: TestMailServer;
  let queue: QueueRecord;
  const secretKeyText = generateSecretKey();
  const workers: ChildProcess[] = [];

  /** Runs `mailqueue worker` as its own process, so it can die without a shutdown. */
  const startWorkerProcess = (): ChildProcess => {
    const child = spawn(process.execPath, [cliPath, 'worker'], {
      env: mailqueueEnvironment({ DATABASE_URL: database.url, TEMPORAL_ADDRESS: temporal.address, MAILQUEUE_SECRET_KEY: secretKeyText }),
      stdio: 'ignore',
    });
    workers.push(child);
    return child;
  };
  const storedCount = (): Promise<number> => countRows(database.db, 'messages', { queue_id: queue.id });

  before(async () => {
    database = await startTestDatabase();
    temporal = await startTestTemporal();
    mail = await startTestDovecot([crashBox]);
    const server = { host: mail.dovecot.host, port: mail.dovecot.imapPort };
    queue = await createQueue(database.db, parseSecretKey(secretKeyText), queueConfigFor(21, crashBox, server, { dontKeepEmails: true }));
    const raws = Array.from({ length: MESSAGE_COUNT }, (_, index) => customerMessage('crash', index + 1, crashBox.user));
    await appendMessages(adminSettings(server.host, server.port, crashBox), 'INBOX', raws);
  });

  after(async () => {
    for (const child of workers) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await mail?.stop();
    await temporal?.stop();
    await database?.stop();
  });

  test('nothing lost and nothing doubled', async () => {
    const first = startWorkerProcess();
    await startQueueWorkflow(temporal.client, queue);

    // Poll tightly: storing 40 small messages takes about a second.
    const deadline = Date.now() + 60_000;
    let seen = await storedCount();
    while (seen === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      seen = await storedCount();
    }
    first.kill('SIGKILL');
    const storedAtKill = await storedCount();
    assert.ok(storedAtKill > 0, 'the worker was killed before it stored anything');
    assert.ok(storedAtKill < MESSAGE_COUNT, `the kill did not land mid-batch: all ${MESSAGE_COUNT} were stored first`);

    // The dead worker's fetch attempt would only be retried after its 2-minute heartbeat timeout.
    // An operator who knows the worker is gone shortens it with the Temporal CLI; so does the test.
    const description = await temporal.client.workflow.getHandle(workflowIdOf(21)).describe();
    const stuck = (description.raw.pendingActivities ?? []).filter((activity) => activity.activityType?.name === 'fetchNewMail');
    assert.equal(stuck.length, 1);
    await execFileAsync(findTemporalCli(), ['activity', 'update-options', '--address', temporal.address, '--workflow-id', workflowIdOf(21), '--activity-id', stuck[0].activityId ?? '', '--heartbeat-timeout', '2s']);

    startWorkerProcess();
    await waitFor('every message processed and purged', async () => {
      const tickets = await countRows(database.db, 'tickets', { queue_id: queue.id });
      const left = await listUids(adminSettings(mail.dovecot.host, mail.dovecot.imapPort, crashBox), 'INBOX');
      return tickets >= MESSAGE_COUNT && left.length === 0 ? true : undefined;
    }, RECOVERY_TIMEOUT_MS);

    const messageIds: Array<{ message_id: string }> = await database.db('messages').where({ queue_id: queue.id }).select('message_id');
    assert.equal(messageIds.length, MESSAGE_COUNT);
    assert.equal(new Set(messageIds.map((row) => row.message_id)).size, MESSAGE_COUNT);
    assert.equal(await countRows(database.db, 'tickets', { queue_id: queue.id }), MESSAGE_COUNT);
    assert.deepEqual(await listUids(adminSettings(mail.dovecot.host, mail.dovecot.imapPort, crashBox), 'INBOX'), []);
  });
});
