import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { loginAgent, setAgentReady, type AgentOperationsContext } from '../../src/agents/operations.js';
import { queryQueueStatus, startQueueWorkflow } from '../../src/client/queue-control.js';
import { readAgentState } from '../../src/db/agent-states.js';
import { allowQueueAgent } from '../../src/db/queue-agents.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { createUser, type UserRecord } from '../../src/db/users.js';
import { generateSecretKey, parseSecretKey } from '../../src/secrets.js';
import { appendMessages } from '../support/imap-admin.js';
import { startTestDatabase, startTestDovecot, startTestTemporal, waitFor, type TestDatabase, type TestMailServer, type TestTemporal } from '../support/environment.js';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';
import { adminSettings, customerMessage, queueConfigFor, type TestMailbox } from './fixtures.js';

const crashBox: TestMailbox = { user: 'dispatch-crash@desk.example.com', password: 'dispatch-crash-Pw-3f1a' };
const MESSAGE_COUNT = 3;
/** The dead worker's dispatch attempt times out (30 s start-to-close), then the retry runs. */
const RECOVERY_TIMEOUT_MS = 90_000;

describe('worker killed with an offer in flight', () => {
  let database: TestDatabase;
  let temporal: TestTemporal;
  let mail: TestMailServer;
  let queue: QueueRecord;
  let agents: UserRecord[];
  const secretKeyText = generateSecretKey();
  const workers: WorkerProcess[] = [];

  const start = async (crashAfterActivity?: string): Promise<WorkerProcess> => {
    const worker = await startWorkerProcess({ temporalAddress: temporal.address, databaseUrl: database.url, secretKey: secretKeyText, crashAfterActivity });
    workers.push(worker);
    return worker;
  };

  before(async () => {
    database = await startTestDatabase();
    temporal = await startTestTemporal();
    mail = await startTestDovecot([crashBox]);
    const server = { host: mail.dovecot.host, port: mail.dovecot.imapPort };
    // Offers last an hour, so no expiry mixes into the recovery.
    queue = await createQueue(database.db, parseSecretKey(secretKeyText), { ...queueConfigFor(31, crashBox, server), agents: { wrapUpSeconds: 0, offerTimeoutSeconds: 3600, allowMultipleStatuses: false } });
    agents = [];
    for (const alias of ['kim', 'lee']) {
      const user = await createUser(database.db, { alias, email: `${alias}@desk.example.com` });
      await allowQueueAgent(database.db, queue.id, user.id);
      agents.push(user);
    }
  });

  after(async () => {
    for (const worker of workers) await worker.kill();
    await mail?.stop();
    await temporal?.stop();
    await database?.stop();
  });

  test('every activity with at most one agent, none lost', async () => {
    const first = await start('dispatchQueue');
    const operations: AgentOperationsContext = { db: database.db, temporal: temporal.client };
    for (const agent of agents) {
      await loginAgent(operations, agent.alias, { queueNumbers: [queue.number] });
      await setAgentReady(operations, agent.alias);
    }
    await waitFor('both agents ready in the database', async () => {
      const states = await Promise.all(agents.map((agent) => readAgentState(database.db, agent.id)));
      return states.every((state) => state?.ready === true && state.queueIds.includes(queue.id)) ? true : undefined;
    });

    const raws = Array.from({ length: MESSAGE_COUNT }, (_, index) => customerMessage('dispatch-crash', index + 1, crashBox.user));
    await appendMessages(adminSettings(mail.dovecot.host, mail.dovecot.imapPort, crashBox), 'INBOX', raws);
    await startQueueWorkflow(temporal.client, queue);

    // The first dispatch round commits its offers, then the worker dies before reporting them.
    const exit = await first.exited;
    assert.equal(exit, 'SIGKILL');
    const offeredAtCrash: Array<{ id: number }> = await database.db('email_activities').where({ queue_id: queue.id, state: 'offered' }).select('id');
    assert.equal(offeredAtCrash.length, 2, 'the crash did not land after the offers committed');

    await start();
    const status = await waitFor('the retried dispatch round reported', async () => {
      const value = await queryQueueStatus(temporal.client, queue.number).catch(() => null);
      return value !== null && value.dispatch.lastDispatchAt !== null ? value : undefined;
    }, RECOVERY_TIMEOUT_MS);
    assert.equal(status.counters.offersMade, 2);

    const rows: Array<{ id: number; state: string; agent_user_id: number | null; offer_count: number }> = await database.db('email_activities').where({ queue_id: queue.id }).orderBy('id').select('id', 'state', 'agent_user_id', 'offer_count');
    assert.equal(rows.length, MESSAGE_COUNT);
    assert.deepEqual(rows.map((row) => row.state).sort(), ['offered', 'offered', 'waiting']);
    const offered = rows.filter((row) => row.state === 'offered');
    assert.deepEqual(offered.map((row) => row.id), offeredAtCrash.map((row) => row.id));
    assert.deepEqual(offered.map((row) => row.agent_user_id).sort(), agents.map((agent) => agent.id).sort());
    assert.deepEqual(offered.map((row) => row.offer_count), [1, 1]);

    const linked: Array<{ message_row_id: number }> = await database.db('email_activity_messages as l').join('messages as m', 'm.id', 'l.message_row_id').where('m.queue_id', queue.id).select('l.message_row_id');
    assert.equal(linked.length, MESSAGE_COUNT);
  });
});
