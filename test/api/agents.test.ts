import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AgentStatusView } from '../../src/agents/operations.js';
import { createActivitiesForQueue, dispatchQueue, type ActivityRecord, type CloseResult } from '../../src/db/email-activities.js';
import { newSecretKey, startTestDatabase, startTestTemporal, startTestWorker, testLogger, waitFor, type RunningWorker, type TestDatabase, type TestTemporal } from '../support/environment.js';
import { call, createUserWithToken, errorOf, startTestApi, type TestApi } from './api-environment.js';

describe('agents and activities over the API', () => {
  let database: TestDatabase;
  let temporal: TestTemporal;
  let worker: RunningWorker;
  let api: TestApi;
  let adminToken: string;
  let janToken: string;
  let evaToken: string;
  let queueId: number;
  let activityId: number;
  const secretKey = newSecretKey();

  before(async () => {
    database = await startTestDatabase();
    temporal = await startTestTemporal();
    worker = await startTestWorker({ temporalAddress: temporal.address, db: database.db, secretKey });
    api = await startTestApi({ db: database.db, temporal: temporal.client, secretKey });
    adminToken = (await createUserWithToken(database.db, 'root', 'admin')).token;
    janToken = (await createUserWithToken(database.db, 'jan', 'agent')).token;
    evaToken = (await createUserWithToken(database.db, 'eva', 'agent')).token;

    // A queue row without a running workflow: the test runs the dispatch round itself.
    const [queue] = await database.db('queues')
      .insert({ number: 61, title: 'Billing', poll_interval_seconds: 3600, max_message_bytes: 1_000_000, incoming: {}, wrap_up_seconds: 45 })
      .returning<Array<{ id: number }>>('id');
    queueId = queue.id;
    const [ticket] = await database.db('tickets').insert({ number: 700_001, queue_id: queueId, title: 'Invoice' }).returning<Array<{ id: number }>>('id');
    await database.db('messages').insert({ queue_id: queueId, ticket_id: ticket.id, direction: 'incoming', source_key: 'api:1', message_id: 'api-1@example.org', content_hash: 'h1', raw: Buffer.from('x'), raw_size: 1, state: 'threaded' });
    await createActivitiesForQueue(database.db, queueId, testLogger);
  });

  after(async () => {
    await api?.stop();
    await worker?.stop();
    await temporal?.stop();
    await database?.stop();
  });

  test('login to forbidden queue is 403', async () => {
    const response = await call(api.app, janToken, 'POST', '/agents/me/login', { queues: [61] });
    assert.equal(response.statusCode, 403, response.body);
    assert.match(errorOf(response).message, /an admin must allow agent jan on queue 61/);
  });

  test('queue agents add, list, remove', async () => {
    assert.equal((await call(api.app, adminToken, 'PUT', '/queues/61/agents/jan')).statusCode, 200);
    assert.equal((await call(api.app, adminToken, 'PUT', '/queues/61/agents/jan')).statusCode, 200, 'adding twice changes nothing');
    const added = await call(api.app, adminToken, 'PUT', '/queues/61/agents/eva');
    assert.equal((added.json() as { alias: string }).alias, 'eva');

    const listed = await call(api.app, adminToken, 'GET', '/queues/61/agents');
    assert.deepEqual((listed.json() as Array<{ alias: string }>).map((agent) => agent.alias), ['eva', 'jan']);

    assert.equal((await call(api.app, adminToken, 'DELETE', '/queues/61/agents/eva')).statusCode, 204);
    const again = await call(api.app, adminToken, 'DELETE', '/queues/61/agents/eva');
    assert.equal(again.statusCode, 404);
    assert.match(errorOf(again).message, /"eva" is not an agent of queue 61/);
    assert.deepEqual(((await call(api.app, adminToken, 'GET', '/queues/61/agents')).json() as Array<{ alias: string }>).map((agent) => agent.alias), ['jan']);
    assert.equal((await call(api.app, adminToken, 'PUT', '/queues/61/agents/nobody')).statusCode, 404);
  });

  test('agent logs in and gets ready', async () => {
    const login = await call(api.app, janToken, 'POST', '/agents/me/login', { queues: [61], capacity: 2 });
    assert.equal(login.statusCode, 200, login.body);
    assert.deepEqual((login.json() as { queues: unknown[] }).queues, [{ queueId, queueNumber: 61 }]);
    assert.equal((await call(api.app, janToken, 'POST', '/agents/me/ready')).statusCode, 204);

    const view = await waitFor('jan ready in the database', async () => {
      const current = (await call(api.app, janToken, 'GET', '/agents/me')).json() as AgentStatusView;
      return current.stored?.ready === true ? current : undefined;
    });
    assert.equal(view.alias, 'jan');
    assert.equal(view.live?.ready, true);
    assert.equal(view.live?.capacity, 2);
    assert.deepEqual(view.stored?.queueIds, [queueId]);
  });

  test('ready without login is 409', async () => {
    const response = await call(api.app, evaToken, 'POST', '/agents/me/ready');
    assert.equal(response.statusCode, 409);
    assert.match(errorOf(response).message, /"eva" is not logged in/);
  });

  test('offer visible to its agent only', async () => {
    await dispatchQueue(database.db, queueId, new Date(), null, 'api:1', testLogger);

    const listed = (await call(api.app, janToken, 'GET', '/activities?state=offered&queue=61')).json() as ActivityRecord[];
    assert.equal(listed.length, 1);
    assert.equal(listed[0].ticketNumber, 700_001);
    assert.equal(listed[0].agentAlias, 'jan');
    activityId = listed[0].id;

    assert.deepEqual((await call(api.app, evaToken, 'GET', '/activities')).json(), []);
    assert.equal((await call(api.app, evaToken, 'GET', `/activities/${activityId}`)).statusCode, 404);
    assert.equal((await call(api.app, evaToken, 'POST', `/activities/${activityId}/accept`)).statusCode, 404);
    assert.equal(((await call(api.app, adminToken, 'GET', '/activities')).json() as ActivityRecord[]).length, 1);
  });

  test('close before accept is 409', async () => {
    const response = await call(api.app, janToken, 'POST', `/activities/${activityId}/close`, {});
    assert.equal(response.statusCode, 409);
    assert.equal(errorOf(response).code, 'conflict');
    assert.match(errorOf(response).message, /accept it first/);
  });

  test('activity accepted, given status, closed', async () => {
    const accepted = await call(api.app, janToken, 'POST', `/activities/${activityId}/accept`);
    assert.equal(accepted.statusCode, 200, accepted.body);
    assert.equal((accepted.json() as ActivityRecord).state, 'open');

    const withStatus = await call(api.app, janToken, 'PUT', `/activities/${activityId}/statuses`, { statuses: ['pending'] });
    assert.deepEqual((withStatus.json() as ActivityRecord).statuses, ['pending']);
    const unknown = await call(api.app, janToken, 'PUT', `/activities/${activityId}/statuses`, { statuses: ['busy'] });
    assert.equal(unknown.statusCode, 400);
    assert.match(errorOf(unknown).message, /Status "busy" does not exist/);

    const closed = await call(api.app, janToken, 'POST', `/activities/${activityId}/close`, { statuses: ['solved'] });
    assert.equal(closed.statusCode, 400, 'queue 61 takes one status per activity');
    const replaced = await call(api.app, janToken, 'PUT', `/activities/${activityId}/statuses`, { statuses: ['solved'] });
    assert.equal(replaced.statusCode, 200);
    const done = await call(api.app, janToken, 'POST', `/activities/${activityId}/close`);
    assert.equal(done.statusCode, 200, done.body);
    const result = done.json() as CloseResult;
    assert.equal(result.activity.state, 'closed');
    assert.deepEqual(result.activity.statuses, ['solved']);
    assert.equal(result.wrapUpSeconds, 45);
    assert.equal(Date.parse(result.wrapUpUntil), Date.parse(result.activity.closedAt ?? '') + 45_000);
  });

  test('accepting closed activity is 409', async () => {
    const response = await call(api.app, janToken, 'POST', `/activities/${activityId}/accept`);
    assert.equal(response.statusCode, 409);
    assert.match(errorOf(response).message, /Activity \d+ is closed, not offered to you/);
  });

  test('close starts the wrap-up timer', async () => {
    const view = await waitFor('the close reached the agent workflow', async () => {
      const current = (await call(api.app, janToken, 'GET', '/agents/me')).json() as AgentStatusView;
      return current.live?.finishedCount === 1 ? current : undefined;
    });
    assert.equal(view.live?.inWrapUp, true);
    assert.deepEqual(view.activities, []);
  });

  test('admin pauses agent by alias', async () => {
    const paused = await call(api.app, adminToken, 'POST', '/agents/jan/pause', { reason: 'lunch' });
    assert.equal(paused.statusCode, 204, paused.body);
    await waitFor('jan paused', async () => {
      const current = (await call(api.app, adminToken, 'GET', '/agents/jan')).json() as AgentStatusView;
      return current.live?.pauseReason === 'lunch' ? current : undefined;
    });
    assert.equal((await call(api.app, janToken, 'POST', '/agents/me/logout')).statusCode, 204);
    const loggedOut = await waitFor('jan logged out', async () => {
      const current = (await call(api.app, adminToken, 'GET', '/agents/jan')).json() as AgentStatusView;
      return current.live?.queues.length === 0 ? current : undefined;
    });
    assert.equal(loggedOut.live?.ready, false);
    assert.equal((await call(api.app, adminToken, 'GET', '/agents/nobody')).statusCode, 404);
  });

  test('agent cannot act for another', async () => {
    const response = await call(api.app, evaToken, 'POST', '/agents/jan/pause', { reason: 'lunch' });
    assert.equal(response.statusCode, 403);
  });
});
