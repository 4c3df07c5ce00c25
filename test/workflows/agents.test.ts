import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import proto from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';

import { createActivities, createOutboxActivities } from '../../src/activities/index.js';
import {
  acceptEmailActivity,
  agentStatus,
  closeEmailActivity,
  loginAgent,
  logoutAgent,
  pauseAgent,
  setAgentReady,
  type AgentOperationsContext,
} from '../../src/agents/operations.js';
import { signalSetActive, startQueueWorkflow } from '../../src/client/queue-control.js';
import { TASK_QUEUE } from '../../src/config.js';
import { listActivities, type ActivityRecord } from '../../src/db/email-activities.js';
import { allowQueueAgent } from '../../src/db/queue-agents.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { createTimeGroup } from '../../src/db/time-groups.js';
import { createUser, type UserRecord } from '../../src/db/users.js';
import { findTemporalTestServer } from '../../src/dev/tools.js';
import { connectImap } from '../../src/mail/imap.js';
import { sendRawMail } from '../../src/mail/smtp.js';
import { workflowsPath } from '../../src/worker.js';
import { agentStateQuery, agentWorkflowId, type AgentStatus } from '../../src/workflows/agent-definitions.js';
import { agentWorkflow } from '../../src/workflows/agent-workflow.js';
import { mailArrivedSignal, queueWorkflowId, statusQuery } from '../../src/workflows/queue-definitions.js';
import { appendMessages } from '../support/imap-admin.js';
import { newSecretKey, startTestDatabase, startTestDovecot, testLogger, waitFor, type TestDatabase, type TestMailServer } from '../support/environment.js';
import { adminSettings, customerMessage, pause, queueConfigFor, type TestMailbox } from './fixtures.js';

/**
 * Agents, offers and wrap-up on the time-skipping test server: the test moves time with
 * `env.sleep` and reads state through the agent workflow's query and the database.
 */

const boxes: TestMailbox[] = ['wrap30', 'wrap300', 'wrap0', 'backlog', 'pausewrap', 'timeout', 'hours', 'inactive', 'carried', 'longwrap', 'shortwrap'].map((name) => ({ user: `${name}@desk.example.com`, password: `${name}-Pw-1a2b` }));
const box = (name: string): TestMailbox => boxes.find((entry) => entry.user.startsWith(`${name}@`)) as TestMailbox;

let env: TestWorkflowEnvironment;
let database: TestDatabase;
let mail: TestMailServer;
let worker: Worker;
let workerRun: Promise<void>;
const secretKey = newSecretKey();
let operations: AgentOperationsContext;
let queueCount = 0;

async function advance(ms: number): Promise<void> {
  await env.sleep(ms);
}

async function makeQueue(name: string, agents: { wrapUpSeconds?: number; offerTimeoutSeconds?: number }, timeGroup?: string): Promise<QueueRecord> {
  queueCount += 1;
  const server = { host: mail.dovecot.host, port: mail.dovecot.imapPort };
  const queue = await createQueue(database.db, secretKey, {
    ...queueConfigFor(queueCount, box(name), server),
    agents: { wrapUpSeconds: agents.wrapUpSeconds ?? 0, offerTimeoutSeconds: agents.offerTimeoutSeconds ?? 3600, allowMultipleStatuses: false },
    timeGroup,
  });
  await startQueueWorkflow(env.client, queue);
  return queue;
}

/**
 * Pauses a finished case's queue, so later time skips do not poll its mailbox. (Terminating
 * it instead can leave the test server's time-skipping lock held by an unfinished task.)
 */
async function stopQueue(queue: QueueRecord | undefined): Promise<void> {
  if (queue !== undefined) await signalSetActive(env.client, queue.number, false);
}

async function makeAgent(alias: string, queue: QueueRecord): Promise<UserRecord> {
  const user = await createUser(database.db, { alias, email: `${alias}@desk.example.com` });
  await allowQueueAgent(database.db, queue.id, user.id);
  await loginAgent(operations, alias, { queueNumbers: [queue.number] });
  return user;
}

/** Delivers `count` customer mails to the queue's mailbox and waits until each is an activity. */
async function deliver(queue: QueueRecord, name: string, count: number): Promise<void> {
  const existing = (await listActivities(database.db, { queueId: queue.id })).length;
  const raws = Array.from({ length: count }, (_, index) => customerMessage(`${name}-${existing + index}`, existing + index + 1, box(name).user));
  await appendMessages(adminSettings(mail.dovecot.host, mail.dovecot.imapPort, box(name)), 'INBOX', raws);
  await env.client.workflow.getHandle(queueWorkflowId(queue.number)).signal(mailArrivedSignal);
  await waitFor(`${count} new activities in queue ${queue.number}`, async () => ((await listActivities(database.db, { queueId: queue.id })).length >= existing + count ? true : undefined), 20_000);
}

async function activities(queue: QueueRecord): Promise<ActivityRecord[]> {
  return listActivities(database.db, { queueId: queue.id });
}

/** Waits until the queue has `count` activities in `state`, and returns them. */
async function until(queue: QueueRecord, state: ActivityRecord['state'], count: number): Promise<ActivityRecord[]> {
  return waitFor(`${count} ${state} activities in queue ${queue.number}`, async () => {
    const found = (await activities(queue)).filter((activity) => activity.state === state);
    return found.length === count ? found : undefined;
  }, 20_000);
}

async function live(alias: string, accept: (status: AgentStatus) => boolean = () => true): Promise<AgentStatus> {
  return waitFor(`live state of ${alias}`, async () => {
    const view = await agentStatus(operations, alias);
    return view.live !== null && accept(view.live) ? view.live : undefined;
  }, 20_000);
}

/** Accepts the activity offered to `alias` and closes it; returns the close time. */
async function work(alias: string, activity: ActivityRecord): Promise<string> {
  await acceptEmailActivity(operations, alias, activity.id);
  const closed = await closeEmailActivity(operations, alias, activity.id);
  return closed.activity.closedAt ?? '';
}

before(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: findTemporalTestServer() } } });
  const { IndexedValueType } = proto.temporal.api.enums.v1;
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: { QueueNumber: IndexedValueType.INDEXED_VALUE_TYPE_INT, QueueTitle: IndexedValueType.INDEXED_VALUE_TYPE_TEXT, QueueActive: IndexedValueType.INDEXED_VALUE_TYPE_BOOL },
  });
  database = await startTestDatabase();
  mail = await startTestDovecot(boxes);
  const deps = { db: database.db, logger: testLogger, connectImap, sendRawMail, secretKey: () => secretKey };
  worker = await Worker.create({ connection: env.nativeConnection, taskQueue: TASK_QUEUE, workflowsPath, activities: { ...createActivities(deps), ...createOutboxActivities(deps) } });
  workerRun = worker.run();
  operations = { db: database.db, temporal: env.client, now: async () => new Date(await env.currentTimeMs()) };
});

after(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await workerRun;
  await env?.teardown();
  await mail?.stop();
  await database?.stop();
});

/** Defines a case with one agent and two activities: the second is offered only after the wrap-up of the first. */
function wrapUpCase(name: string, wrapUpSeconds: number): void {
  describe(`wrap-up of ${wrapUpSeconds} s`, () => {
    let queue: QueueRecord;
    let closedAt: string;

    before(async () => {
      queue = await makeQueue(name, { wrapUpSeconds });
      await makeAgent(name, queue);
      await setAgentReady(operations, name);
      await deliver(queue, name, 2);
    });
    after(() => stopQueue(queue));

    test('one offer at capacity one', async () => {
      const offered = await until(queue, 'offered', 1);
      assert.equal(offered[0].agentAlias, name);
      assert.equal((await until(queue, 'waiting', 1)).length, 1);
    });

    test('closing starts the wrap-up', async () => {
      const [offered] = await until(queue, 'offered', 1);
      closedAt = await work(name, offered);
      const expected = new Date(Date.parse(closedAt) + wrapUpSeconds * 1000).toISOString();
      const state = await live(name, (status) => status.finishedCount === 1 && !status.savePending);
      assert.equal(state.wrapUpUntil, expected);
      if (wrapUpSeconds > 0) assert.equal(state.inWrapUp, true);
    });

    if (wrapUpSeconds > 0) {
      test('nothing offered during wrap-up', async () => {
        await advance(wrapUpSeconds * 1000 - 2000);
        assert.equal((await live(name)).inWrapUp, true);
        assert.equal((await activities(queue)).filter((activity) => activity.state === 'waiting').length, 1);
      });
    }

    test('next offer after wrap-up', async () => {
      if (wrapUpSeconds > 0) await advance(3000);
      const [offered] = await until(queue, 'offered', 1);
      assert.equal(offered.agentAlias, name);
      assert.ok(Date.parse(offered.offeredAt ?? '') >= Date.parse(closedAt) + wrapUpSeconds * 1000, `offered at ${offered.offeredAt}, before the wrap-up ended`);
      assert.equal((await live(name)).inWrapUp, false);
    });
  });
}

wrapUpCase('wrap30', 30);
wrapUpCase('wrap300', 300);
wrapUpCase('wrap0', 0);

describe('two agents and a backlog', () => {
  let queue: QueueRecord;

  before(async () => {
    queue = await makeQueue('backlog', {});
    await makeAgent('ann', queue);
    await makeAgent('bob', queue);
    await setAgentReady(operations, 'ann');
    await live('ann', (status) => status.ready && !status.savePending);
    await advance(1000);
    await setAgentReady(operations, 'bob');
    await live('bob', (status) => status.ready && !status.savePending);
    await deliver(queue, 'backlog', 3);
  });
  after(() => stopQueue(queue));

  test('longest idle gets the oldest', async () => {
    const offered = await until(queue, 'offered', 2);
    const all = await activities(queue);
    assert.equal(offered.find((activity) => activity.id === all[0].id)?.agentAlias, 'ann');
    assert.equal(offered.find((activity) => activity.id === all[1].id)?.agentAlias, 'bob');
    assert.equal(all[2].state, 'waiting');
  });

  test('backlog goes to whoever is free', async () => {
    const bobs = (await until(queue, 'offered', 2)).find((activity) => activity.agentAlias === 'bob') as ActivityRecord;
    await work('bob', bobs);
    const offered = await until(queue, 'offered', 2);
    assert.deepEqual(offered.map((activity) => activity.agentAlias).sort(), ['ann', 'bob']);
    for (const activity of offered) await work(activity.agentAlias ?? '', activity);
    const closed = await until(queue, 'closed', 3);
    assert.equal(closed.length, 3);
  });
});

describe('pausing in wrap-up', () => {
  let queue: QueueRecord;

  before(async () => {
    queue = await makeQueue('pausewrap', { wrapUpSeconds: 60 });
    await makeAgent('cid', queue);
    await setAgentReady(operations, 'cid');
    await deliver(queue, 'pausewrap', 2);
    const [offered] = await until(queue, 'offered', 1);
    await work('cid', offered);
    await live('cid', (status) => status.inWrapUp && !status.savePending);
  });
  after(() => stopQueue(queue));

  test('paused agent stays paused after wrap-up', async () => {
    await pauseAgent(operations, 'cid', 'lunch');
    await live('cid', (status) => !status.ready && !status.savePending);
    await advance(61_000);
    const state = await live('cid', (status) => !status.inWrapUp);
    assert.equal(state.ready, false);
    assert.equal(state.pauseReason, 'lunch');
    assert.equal((await until(queue, 'waiting', 1)).length, 1);
  });

  test('ready again gets the offer', async () => {
    await setAgentReady(operations, 'cid');
    const [offered] = await until(queue, 'offered', 1);
    assert.equal(offered.agentAlias, 'cid');
  });

  test('logging back in does not skip wrap-up', async () => {
    const [offered] = await until(queue, 'offered', 1);
    await deliver(queue, 'pausewrap', 1);
    const closedAt = await work('cid', offered);
    await logoutAgent(operations, 'cid');
    await live('cid', (status) => status.queues.length === 0 && !status.savePending);
    await loginAgent(operations, 'cid', { queueNumbers: [queue.number] });
    await setAgentReady(operations, 'cid');
    await live('cid', (status) => status.ready && !status.savePending);
    await advance(30_000);
    assert.equal((await until(queue, 'waiting', 1)).length, 1);
    await advance(31_000);
    const [next] = await until(queue, 'offered', 1);
    assert.ok(Date.parse(next.offeredAt ?? '') >= Date.parse(closedAt) + 60_000);
  });
});

describe('an offer timing out', () => {
  let queue: QueueRecord;

  before(async () => {
    queue = await makeQueue('timeout', { offerTimeoutSeconds: 30 });
    await makeAgent('dan', queue);
    await makeAgent('eve', queue);
    await setAgentReady(operations, 'dan');
    await live('dan', (status) => status.ready && !status.savePending);
    await advance(1000);
    await setAgentReady(operations, 'eve');
    await live('eve', (status) => status.ready && !status.savePending);
    await deliver(queue, 'timeout', 1);
  });
  after(() => stopQueue(queue));

  test('unanswered offer moves to the next agent', async () => {
    const [first] = await until(queue, 'offered', 1);
    assert.equal(first.agentAlias, 'dan');
    await advance(31_000);
    const [second] = await waitFor('the offer moved to eve', async () => {
      const found = (await activities(queue)).filter((activity) => activity.state === 'offered' && activity.agentAlias === 'eve');
      return found.length === 1 ? found : undefined;
    }, 20_000);
    assert.equal(second.id, first.id);
    await assert.rejects(acceptEmailActivity(operations, 'dan', first.id), /with another agent, not offered to you/);
    const counters = (await env.client.workflow.getHandle(queueWorkflowId(queue.number)).query(statusQuery)).counters;
    assert.equal(counters.offersExpired, 1);
  });
});

describe('working hours closing with activities waiting', () => {
  let queue: QueueRecord;
  let closeAtMs: number;
  let reopenAtMs: number;

  before(async () => {
    // Every day in UTC: open from ten minutes ago for twenty minutes, closed for ten, open again.
    const nowMinute = Math.floor((await env.currentTimeMs()) / 60_000);
    const hhmm = (minute: number): string => `${String(Math.floor((((minute % 1440) + 1440) % 1440) / 60)).padStart(2, '0')}:${String(((minute % 60) + 60) % 60).padStart(2, '0')}`;
    closeAtMs = (nowMinute + 10) * 60_000;
    reopenAtMs = (nowMinute + 20) * 60_000;
    await createTimeGroup(database.db, {
      name: 'short-break',
      timeZone: 'UTC',
      weekly: ([1, 2, 3, 4, 5, 6, 7] as const).flatMap((day) => [
        { day, open: hhmm(nowMinute - 10), close: hhmm(nowMinute + 10) },
        { day, open: hhmm(nowMinute + 20), close: hhmm(nowMinute + 40) },
      ]),
      exceptions: [],
    });
    queue = await makeQueue('hours', {}, 'short-break');
    await makeAgent('fay', queue);
    await deliver(queue, 'hours', 2);
  });
  after(() => stopQueue(queue));

  test('closed queue offers nothing', async () => {
    await advance(closeAtMs - (await env.currentTimeMs()) + 1000);
    await setAgentReady(operations, 'fay');
    await live('fay', (status) => status.ready && !status.savePending);
    const status = await waitFor('queue closed', async () => {
      const value = await env.client.workflow.getHandle(queueWorkflowId(queue.number)).query(statusQuery);
      return value.open === false && value.dispatch.lastDispatchAt !== null && Date.parse(value.dispatch.lastDispatchAt) >= closeAtMs ? value : undefined;
    }, 20_000);
    assert.equal(status.dispatch.waiting, 2);
    // The ready agent's own dispatch signal may still be on its way: give it time to do nothing.
    await pause(1500);
    assert.equal((await until(queue, 'waiting', 2)).length, 2);
  });

  test('dispatch resumes at opening', async () => {
    await advance(reopenAtMs - (await env.currentTimeMs()) + 1000);
    const [offered] = await until(queue, 'offered', 1);
    assert.equal(offered.agentAlias, 'fay');
    assert.ok(Date.parse(offered.offeredAt ?? '') >= reopenAtMs);
  });
});

describe('paused queue', () => {
  let queue: QueueRecord;

  before(async () => {
    queue = await makeQueue('inactive', {});
    await makeAgent('gus', queue);
    await deliver(queue, 'inactive', 1);
    await signalSetActive(env.client, queue.number, false);
    await waitFor('queue paused', async () => ((await env.client.workflow.getHandle(queueWorkflowId(queue.number)).query(statusQuery)).active === false ? true : undefined));
  });
  after(() => stopQueue(queue));

  test('waiting activity still goes to an agent', async () => {
    await setAgentReady(operations, 'gus');
    const [offered] = await until(queue, 'offered', 1);
    assert.equal(offered.agentAlias, 'gus');
  });
});

describe('agent state carried into a new run', () => {
  let queue: QueueRecord;
  let user: UserRecord;

  before(async () => {
    queue = await makeQueue('carried', {});
    user = await createUser(database.db, { alias: 'hal', email: 'hal@desk.example.com' });
    await allowQueueAgent(database.db, queue.id, user.id);
    await deliver(queue, 'carried', 1);
    // Starts the run the way continue-as-new does: plain JSON state, in the middle of a wrap-up.
    const nowMs = await env.currentTimeMs();
    await env.client.workflow.start(agentWorkflow, {
      workflowId: agentWorkflowId(user.id),
      taskQueue: TASK_QUEUE,
      args: [{
        userId: user.id,
        carried: {
          queues: [{ queueId: queue.id, queueNumber: queue.number }],
          ready: true,
          pauseReason: null,
          capacity: 1,
          wrapUpUntilMs: nowMs + 20_000,
          wrapUpRunning: true,
          idleSinceMs: null,
          finishedCount: 4,
          recentFinished: [1, 2, 3, 4],
          savePending: true,
          notifyQueueNumbers: [],
        },
      }],
    });
  });
  after(() => stopQueue(queue));

  test('wrap-up continues in the new run', async () => {
    const state = await waitFor('the carried state saved', async () => {
      const current = await env.client.workflow.getHandle(agentWorkflowId(user.id)).query(agentStateQuery);
      return current.savePending ? undefined : current;
    });
    assert.equal(state.inWrapUp, true);
    assert.equal(state.finishedCount, 4);
    assert.equal((await until(queue, 'waiting', 1)).length, 1);
  });

  test('offer follows the carried wrap-up', async () => {
    await advance(21_000);
    const [offered] = await until(queue, 'offered', 1);
    assert.equal(offered.agentAlias, 'hal');
  });
});

describe('finishing two in a row', () => {
  let long: QueueRecord;
  let short: QueueRecord;
  let firstClosedAt: string;

  before(async () => {
    long = await makeQueue('longwrap', { wrapUpSeconds: 300 });
    short = await makeQueue('shortwrap', { wrapUpSeconds: 30 });
    const user = await createUser(database.db, { alias: 'ivy', email: 'ivy@desk.example.com' });
    await allowQueueAgent(database.db, long.id, user.id);
    await allowQueueAgent(database.db, short.id, user.id);
    await loginAgent(operations, 'ivy', { queueNumbers: [long.number, short.number], capacity: 2 });
    await setAgentReady(operations, 'ivy');
    await deliver(long, 'longwrap', 1);
    await deliver(short, 'shortwrap', 1);
  });
  after(async () => {
    await stopQueue(long);
    await stopQueue(short);
  });

  test('capacity two holds both', async () => {
    const [fromLong] = await until(long, 'offered', 1);
    const [fromShort] = await until(short, 'offered', 1);
    await acceptEmailActivity(operations, 'ivy', fromLong.id);
    await acceptEmailActivity(operations, 'ivy', fromShort.id);
    firstClosedAt = (await closeEmailActivity(operations, 'ivy', fromLong.id)).activity.closedAt ?? '';
    await advance(10_000);
    await closeEmailActivity(operations, 'ivy', fromShort.id);
    const state = await live('ivy', (status) => status.finishedCount === 2 && !status.savePending);
    assert.equal(state.wrapUpUntil, new Date(Date.parse(firstClosedAt) + 300_000).toISOString());
  });

  test('shorter wrap-up does not cut it', async () => {
    await advance(31_000);
    assert.equal((await live('ivy')).inWrapUp, true);
    await deliver(short, 'shortwrap', 1);
    assert.equal((await until(short, 'waiting', 1)).length, 1);
  });

  test('offer after the longer wrap-up', async () => {
    await advance(Date.parse(firstClosedAt) + 300_000 - (await env.currentTimeMs()) + 1000);
    const [offered] = await until(short, 'offered', 1);
    assert.equal(offered.agentAlias, 'ivy');
    assert.ok(Date.parse(offered.offeredAt ?? '') >= Date.parse(firstClosedAt) + 300_000);
  });
});
