import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createActivitiesForQueue, dispatchQueue } from '../../src/db/email-activities.js';
import { allowQueueAgent } from '../../src/db/queue-agents.js';
import { createUser } from '../../src/db/users.js';
import { generateSecretKey, parseSecretKey } from '../../src/secrets.js';
import type { AgentStatusView } from '../../src/agents/operations.js';
import type { ActivityRecord, CloseResult } from '../../src/db/email-activities.js';
import { startTestDatabase, startTestTemporal, startTestWorker, testLogger, waitFor, type RunningWorker, type TestDatabase, type TestTemporal } from '../support/environment.js';
import { mailqueueEnvironment, runCli, type CliResult } from './cli-process.js';

describe('agent and activity commands', () => {
  let database: TestDatabase;
  let temporal: TestTemporal;
  let worker: RunningWorker;
  let env: NodeJS.ProcessEnv;
  let queueId: number;
  let activityId: number;
  const secretKeyText = generateSecretKey();

  const cli = (...args: string[]): Promise<CliResult> => runCli(args, env);
  const json = <T>(result: CliResult): T => {
    assert.equal(result.code, 0, `command failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  };

  before(async () => {
    database = await startTestDatabase();
    temporal = await startTestTemporal();
    worker = await startTestWorker({ temporalAddress: temporal.address, db: database.db, secretKey: parseSecretKey(secretKeyText) });
    env = mailqueueEnvironment({ DATABASE_URL: database.url, TEMPORAL_ADDRESS: temporal.address, MAILQUEUE_SECRET_KEY: secretKeyText, LOG_LEVEL: 'error' });

    // A queue row without a running workflow: the test drives dispatch itself.
    const [queue] = await database.db('queues')
      .insert({ number: 61, title: 'Billing', poll_interval_seconds: 3600, max_message_bytes: 1_000_000, incoming: {}, wrap_up_seconds: 45 })
      .returning<Array<{ id: number }>>('id');
    queueId = queue.id;
    const [ticket] = await database.db('tickets').insert({ number: 700_001, queue_id: queueId, title: 'Invoice' }).returning<Array<{ id: number }>>('id');
    await database.db('messages').insert({ queue_id: queueId, ticket_id: ticket.id, direction: 'incoming', source_key: 'cli:1', message_id: 'cli-1@example.org', content_hash: 'h1', raw: Buffer.from('x'), raw_size: 1, state: 'threaded' });
    await createActivitiesForQueue(database.db, queueId, testLogger);
    await createUser(database.db, { alias: 'jan', email: 'jan@example.com' });
  });

  after(async () => {
    await worker?.stop();
    await temporal?.stop();
    await database?.stop();
  });

  test('unknown agent is named', async () => {
    const result = await cli('agent', 'login', '--as', 'nobody', '--queue', '61');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Agent "nobody" does not exist: create the user with `mailqueue users create --alias nobody/);
  });

  test('login to a forbidden queue fails', async () => {
    const result = await cli('agent', 'login', '--as', 'jan', '--queue', '61');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /an admin must allow agent jan on queue 61/);
  });

  test('login, ready and status', async () => {
    const user = await database.db('users').where({ alias: 'jan' }).first('id');
    await allowQueueAgent(database.db, queueId, user.id);
    assert.equal((await cli('agent', 'login', '--as', 'jan', '--queue', '61')).code, 0);
    const ready = await cli('agent', 'ready', '--as', 'jan');
    assert.equal(ready.code, 0, ready.stderr);

    const view = await waitFor('jan ready in the database', async () => {
      const current = json<AgentStatusView>(await cli('agent', 'status', '--as', 'jan', '--json'));
      return current.stored?.ready === true ? current : undefined;
    });
    assert.equal(view.live?.ready, true);
    assert.deepEqual(view.live?.queues, [{ queueId, queueNumber: 61 }]);
    assert.deepEqual(view.stored?.queueIds, [queueId]);
  });

  test('offered activity is listed', async () => {
    await dispatchQueue(database.db, queueId, new Date(), null, 'cli:1', testLogger);
    const listed = json<ActivityRecord[]>(await cli('activity', 'list', '--state', 'offered', '--as', 'jan', '--json'));
    assert.equal(listed.length, 1);
    assert.equal(listed[0].ticketNumber, 700_001);
    activityId = listed[0].id;
  });

  test('bad state names the choices', async () => {
    const result = await cli('activity', 'list', '--state', 'busy');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Activity state "busy" does not exist: use one of waiting, offered, open, closed/);
  });

  test('accept, status and close', async () => {
    const accepted = json<ActivityRecord>(await cli('activity', 'accept', String(activityId), '--as', 'jan', '--json'));
    assert.equal(accepted.state, 'open');

    const withStatus = json<ActivityRecord>(await cli('activity', 'status', String(activityId), 'solved', '--as', 'jan', '--json'));
    assert.deepEqual(withStatus.statuses, ['solved']);
    const second = await cli('activity', 'status', String(activityId), 'pending', '--as', 'jan');
    assert.equal(second.code, 1);
    assert.match(second.stderr, /queue 61 allows one status per activity/);

    const closed = json<CloseResult>(await cli('activity', 'close', String(activityId), '--as', 'jan', '--json'));
    assert.equal(closed.activity.state, 'closed');
    assert.equal(closed.wrapUpSeconds, 45);
    assert.equal(Date.parse(closed.wrapUpUntil), Date.parse(closed.activity.closedAt ?? '') + 45_000);
  });

  test('agent workflow times the wrap-up', async () => {
    const view = await waitFor('the close reached the agent workflow', async () => {
      const current = json<AgentStatusView>(await cli('agent', 'status', '--as', 'jan', '--json'));
      return current.live?.finishedCount === 1 ? current : undefined;
    });
    assert.equal(view.live?.inWrapUp, true);
    assert.equal(view.activities.length, 0);
  });

  test('pause and logout', async () => {
    assert.equal((await cli('agent', 'pause', '--as', 'jan', '--reason', 'lunch')).code, 0);
    assert.equal((await cli('agent', 'logout', '--as', 'jan')).code, 0);
    const view = await waitFor('jan logged out', async () => {
      const current = json<AgentStatusView>(await cli('agent', 'status', '--as', 'jan', '--json'));
      return current.live?.queues.length === 0 && current.stored?.queueIds.length === 0 ? current : undefined;
    });
    assert.equal(view.live?.ready, false);
    assert.equal(view.live?.pauseReason, 'logged-out');
  });
});
