/**
 * Replays recorded workflow histories against the current workflow code, so a change that
 * would break running workflows (non-determinism) fails here instead of in production.
 *
 * The histories in test/workflows/histories/ come from real runs against Dovecot, PostgreSQL,
 * an SMTP server and the Temporal dev server. After an intentional workflow change that is
 * versioned (with `patched()` or a new workflow type), keep the old files and add new ones.
 * Re-record in place only when no workflow of the old shape runs anywhere:
 *
 *   npm run build && RECORD_HISTORIES=1 node --test dist/test/workflows/replay.test.js
 *
 * then commit the changed JSON files. Recording also checks that no password reached a history.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';

import { acceptEmailActivity, agentStatus, closeEmailActivity, loginAgent, pauseAgent, setAgentReady } from '../../src/agents/operations.js';
import { queryQueueStatus, signalConfigChanged, signalMailArrived, signalSetActive, startQueueWorkflow } from '../../src/client/queue-control.js';
import { listActivities } from '../../src/db/email-activities.js';
import { allowQueueAgent } from '../../src/db/queue-agents.js';
import { createUser } from '../../src/db/users.js';
import { agentWorkflowId } from '../../src/workflows/agent-definitions.js';
import { createQueue, softDeleteQueue } from '../../src/db/queues.js';
import { createTemplate } from '../../src/db/templates.js';
import { workflowsPath } from '../../src/worker.js';
import { outboxDeliveryWorkflowId } from '../../src/workflows/outbox-delivery-workflow.js';
import { appendMessages } from '../support/imap-admin.js';
import { startCaptureSmtpServer } from '../support/smtp-capture.js';
import { newSecretKey, startTestDatabase, startTestDovecot, startTestTemporal, startTestWorker, waitFor } from '../support/environment.js';
import { adminSettings, countRows, customerMessage, historyFromPlain, historyToPlain, queueConfigFor, workflowIdOf, type TestMailbox } from './fixtures.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const historiesDir = join(repoRoot, 'test', 'workflows', 'histories');
const recording = process.env.RECORD_HISTORIES === '1';

const recordBox: TestMailbox = { user: 'replay@desk.example.com', password: 'replay-Pw-0c4e-never-in-history' };
const QUEUE_NUMBER = 41;

/** Files the recorder writes; any other JSON file in the folder (an older shape kept on purpose) is replayed too. */
const recordedFiles = ['queue-workflow.json', 'outbox-delivery-workflow.json', 'agent-workflow.json'];

function historyFiles(): string[] {
  const present = existsSync(historiesDir) ? readdirSync(historiesDir).filter((name) => name.endsWith('.json')) : [];
  return [...new Set([...recordedFiles, ...present])].sort();
}

/** Returns the ids of the patches a history recorded; each is a `core_patch` marker with a base64 JSON payload, as in the files here. */
function patchIds(historyText: string): string[] {
  const history = JSON.parse(historyText) as { events: Array<{ markerRecordedEventAttributes?: { markerName?: string; details?: Record<string, { payloads?: Array<{ data?: string }> }> } }> };
  return history.events
    .map((event) => event.markerRecordedEventAttributes)
    .filter((marker) => marker?.markerName === 'core_patch')
    .flatMap((marker) => marker?.details?.['patch-data']?.payloads ?? [])
    .map((payload) => (JSON.parse(Buffer.from(payload.data ?? '', 'base64').toString('utf8')) as { id: string }).id);
}

describe('record histories', { skip: recording ? false : 'set RECORD_HISTORIES=1 to re-record' }, () => {
  const stops: Array<() => Promise<void>> = [];

  after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  });

  test('record real runs', async () => {
    const database = await startTestDatabase();
    stops.push(database.stop);
    const temporal = await startTestTemporal();
    stops.push(temporal.stop);
    const mail = await startTestDovecot([recordBox]);
    stops.push(mail.stop);
    const smtp = await startCaptureSmtpServer({ mode: 'plain' });
    stops.push(() => smtp.close());
    const secretKey = newSecretKey();
    const worker = await startTestWorker({ temporalAddress: temporal.address, db: database.db, secretKey });
    stops.push(worker.stop);

    const server = { host: mail.dovecot.host, port: mail.dovecot.imapPort };
    const admin = adminSettings(server.host, server.port, recordBox);
    await createTemplate(database.db, { name: 'replay-autoresponse', kind: 'autoresponse', subject: 'Received: {{ticket.title}}', text: 'Ticket {{ticket.number}}.\n' });
    const queue = await createQueue(database.db, secretKey, {
      ...queueConfigFor(QUEUE_NUMBER, recordBox, server),
      outgoing: { host: '127.0.0.1', port: smtp.port, security: 'none' },
      senderAddress: recordBox.user,
      autoresponseTemplate: 'replay-autoresponse',
    });

    // Fetch, thread, respond and deliver.
    await appendMessages(admin, 'INBOX', [customerMessage('replay', 1, recordBox.user)]);
    await startQueueWorkflow(temporal.client, queue);
    const outboxId = await waitFor('the auto-response sent', async () => {
      const row: { id: number } | undefined = await database.db('outbox').where({ queue_id: queue.id, state: 'sent' }).first('id');
      return row?.id;
    });

    // An agent logs in, gets the activity of the first mail, works it, and pauses.
    const agent = await createUser(database.db, { alias: 'replay-agent', email: 'replay-agent@desk.example.com' });
    await allowQueueAgent(database.db, queue.id, agent.id);
    const operations = { db: database.db, temporal: temporal.client };
    await loginAgent(operations, agent.alias, { queueNumbers: [QUEUE_NUMBER] });
    await setAgentReady(operations, agent.alias);
    const offered = await waitFor('the activity offered', async () => (await listActivities(database.db, { queueId: queue.id, state: 'offered' }))[0]);
    await acceptEmailActivity(operations, agent.alias, offered.id);
    await closeEmailActivity(operations, agent.alias, offered.id, ['solved']);
    await waitFor('the wrap-up over', async () => {
      const live = (await agentStatus(operations, agent.alias)).live;
      return live !== null && live.finishedCount === 1 && !live.inWrapUp && !live.savePending ? true : undefined;
    });
    await pauseAgent(operations, agent.alias, 'replay done');
    await waitFor('the agent paused', async () => ((await agentStatus(operations, agent.alias)).live?.pauseReason === 'replay done' ? true : undefined));

    // Pause, then resume with new mail waiting.
    await signalSetActive(temporal.client, QUEUE_NUMBER, false);
    await waitFor('paused', async () => ((await queryQueueStatus(temporal.client, QUEUE_NUMBER))?.active === false ? true : undefined));
    await appendMessages(admin, 'INBOX', [customerMessage('replay', 2, recordBox.user)]);
    await signalMailArrived(temporal.client, QUEUE_NUMBER);
    await signalSetActive(temporal.client, QUEUE_NUMBER, true);
    await waitFor('second message threaded', async () => ((await countRows(database.db, 'tickets', { queue_id: queue.id })) === 2 ? true : undefined));
    await waitFor('second cycle finished', async () => ((await queryQueueStatus(temporal.client, QUEUE_NUMBER))?.counters.cycles === 2 ? true : undefined));

    // The queue is deleted, so its workflow ends the way a deleted queue's does.
    await softDeleteQueue(database.db, queue.id);
    await signalConfigChanged(temporal.client, QUEUE_NUMBER);
    await temporal.client.workflow.getHandle(workflowIdOf(QUEUE_NUMBER)).result();

    mkdirSync(historiesDir, { recursive: true });
    const recorded: Array<[string, string]> = [
      ['queue-workflow.json', workflowIdOf(QUEUE_NUMBER)],
      ['outbox-delivery-workflow.json', outboxDeliveryWorkflowId(outboxId)],
      ['agent-workflow.json', agentWorkflowId(agent.id)],
    ];
    for (const [file, workflowId] of recorded) {
      const history = historyToPlain(await temporal.client.workflow.getHandle(workflowId).fetchHistory());
      const text = `${JSON.stringify(history, null, 2)}\n`;
      assert.equal(text.includes(recordBox.password), false, `${file}: the mailbox password is in the history`);
      writeFileSync(join(historiesDir, file), text);
    }
  });
});

describe('replay recorded histories', () => {
  const files = historyFiles();

  before(() => {
    const missing = files.filter((file) => !existsSync(join(historiesDir, file)));
    assert.deepEqual(missing, [], `histories missing in ${historiesDir}; record them with RECORD_HISTORIES=1`);
  });

  test('histories hold no password', () => {
    for (const file of files) {
      const text = readFileSync(join(historiesDir, file), 'utf8');
      assert.equal(text.includes(recordBox.password), false, `${file} contains the mailbox password`);
    }
  });

  test('histories cover the whole cycle', () => {
    const queueHistory = readFileSync(join(historiesDir, 'queue-workflow.json'), 'utf8');
    for (const activity of ['fetchNewMail', 'threadPendingMessages', 'decideAutoresponses', 'createEmailActivities', 'dispatchQueue']) {
      assert.ok(queueHistory.includes(`"${activity}"`), `the queue history never ran ${activity}`);
    }
    assert.ok(queueHistory.includes('"setActive"'), 'the queue history has no pause or resume');
    assert.ok(patchIds(queueHistory).includes('deleted-queue-inactive'), 'the queue history never ended for a deleted queue');
    const agentHistory = readFileSync(join(historiesDir, 'agent-workflow.json'), 'utf8');
    for (const signal of ['login', 'ready', 'activityFinished', 'pause']) {
      assert.ok(agentHistory.includes(`"${signal}"`), `the agent history has no ${signal} signal`);
    }
    assert.ok(agentHistory.includes('"agentAvailable"'), 'the agent history never signalled a queue');
  });

  test('changed history fails replay', async () => {
    // Proves the replay can fail, because the edited history records another activity first.
    const text = readFileSync(join(historiesDir, 'queue-workflow.json'), 'utf8').replace('"loadQueueSettings"', '"loadOtherSettings"');
    await assert.rejects(Worker.runReplayHistory({ workflowsPath }, historyFromPlain(JSON.parse(text))), DeterminismViolationError);
  });

  for (const file of files) {
    test(`replays ${file.replace(/\.json$/, '')}`, async () => {
      const history = historyFromPlain(JSON.parse(readFileSync(join(historiesDir, file), 'utf8')));
      await Worker.runReplayHistory({ workflowsPath }, history);
    });
  }
});
