import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { readAgentState, saveAgentState, type AgentStateSnapshot } from '../../src/db/agent-states.js';
import {
  acceptActivity,
  closeActivity,
  createActivitiesForQueue,
  dispatchQueue,
  findActivity,
  offerActivity,
  readDispatchCandidates,
  setActivityStatuses,
} from '../../src/db/email-activities.js';
import { allowQueueAgent } from '../../src/db/queue-agents.js';
import { softDeleteQueue } from '../../src/db/queues.js';
import { createUser, grantCategory, revokeCategory } from '../../src/db/users.js';
import { planOffers } from '../../src/domain/dispatch.js';
import { pino } from 'pino';

import { startTestDatabase, testLogger, type TestDatabase } from '../support/environment.js';

const AT = new Date('2026-03-02T10:00:00Z');
const later = (seconds: number): Date => new Date(AT.getTime() + seconds * 1000);

describe('email activities in the database', () => {
  let database: TestDatabase;
  let ticketNumber = 500_000;
  let messageNumber = 0;

  const db = () => database.db;

  async function makeQueue(number: number, fields: Record<string, unknown> = {}): Promise<number> {
    const [row] = await db()('queues')
      .insert({ number, title: `Queue ${number}`, poll_interval_seconds: 60, max_message_bytes: 1_000_000, incoming: {}, ...fields })
      .returning<Array<{ id: number }>>('id');
    return row.id;
  }

  async function makeTicket(queueId: number, category: string | null = null): Promise<number> {
    ticketNumber += 1;
    const [row] = await db()('tickets').insert({ number: ticketNumber, queue_id: queueId, title: `Ticket ${ticketNumber}`, category }).returning<Array<{ id: number }>>('id');
    return row.id;
  }

  /** Stores an incoming message as threading would leave it. */
  async function makeMessage(queueId: number, ticketId: number | null, fields: Record<string, unknown> = {}): Promise<number> {
    messageNumber += 1;
    const [row] = await db()('messages')
      .insert({
        queue_id: queueId,
        ticket_id: ticketId,
        direction: 'incoming',
        source_key: `test:${messageNumber}`,
        message_id: `m${messageNumber}@example.org`,
        content_hash: `hash${messageNumber}`,
        raw: Buffer.from('x'),
        raw_size: 1,
        state: ticketId === null ? 'held' : 'threaded',
        ...fields,
      })
      .returning<Array<{ id: number }>>('id');
    return row.id;
  }

  async function makeAgent(alias: string, queueIds: number[], state: Partial<AgentStateSnapshot> = {}): Promise<number> {
    const user = await createUser(db(), { alias, email: `${alias}@example.com` });
    for (const queueId of queueIds) await allowQueueAgent(db(), queueId, user.id);
    await saveAgentState(db(), { userId: user.id, capacity: 1, ready: true, pauseReason: null, wrapUpUntilMs: null, idleSinceMs: AT.getTime() - 60_000, queueIds, ...state });
    return user.id;
  }

  async function waitingActivity(queueId: number, category: string | null = null): Promise<number> {
    const ticketId = await makeTicket(queueId, category);
    await makeMessage(queueId, ticketId);
    await createActivitiesForQueue(db(), queueId, testLogger);
    const row: { id: number } = await db()('email_activities').where({ ticket_id: ticketId }).first('id');
    return row.id;
  }

  before(async () => {
    database = await startTestDatabase();
  });
  after(async () => {
    await database?.stop();
  });

  describe('creating activities', () => {
    let queueId: number;

    before(async () => {
      queueId = await makeQueue(1);
    });

    test('only customer mail makes activities', async () => {
      const ticketId = await makeTicket(queueId);
      const customer = await makeMessage(queueId, ticketId);
      await makeMessage(queueId, ticketId, { auto_submitted: true });
      await makeMessage(queueId, ticketId, { bounce: true });
      await makeMessage(queueId, ticketId, { imported: true });
      await makeMessage(queueId, null);
      await makeMessage(queueId, null, { state: 'own' });
      await makeMessage(queueId, null, { state: 'duplicate' });

      const result = await createActivitiesForQueue(db(), queueId, testLogger);
      assert.deepEqual(result, { created: 1, joined: 0, skipped: 6, more: false });
      const activities = await db()('email_activities').where({ ticket_id: ticketId }).select('id', 'state');
      assert.equal(activities.length, 1);
      assert.equal(activities[0].state, 'waiting');
      assert.deepEqual((await findActivity(db(), activities[0].id))?.messageRowIds, [customer]);
    });

    test('pending message waits for threading', async () => {
      const ticketId = await makeTicket(queueId);
      await makeMessage(queueId, ticketId, { state: 'pending' });
      assert.deepEqual(await createActivitiesForQueue(db(), queueId, testLogger), { created: 0, joined: 0, skipped: 0, more: false });
    });

    test('reply joins the unfinished activity', async () => {
      const ticketId = await makeTicket(queueId);
      const first = await makeMessage(queueId, ticketId);
      await createActivitiesForQueue(db(), queueId, testLogger);
      const reply = await makeMessage(queueId, ticketId);
      const result = await createActivitiesForQueue(db(), queueId, testLogger);
      assert.equal(result.joined, 1);
      assert.equal(result.created, 0);
      const rows: Array<{ id: number }> = await db()('email_activities').where({ ticket_id: ticketId }).select('id');
      assert.equal(rows.length, 1);
      assert.deepEqual((await findActivity(db(), rows[0].id))?.messageRowIds, [first, reply]);
    });

    test('reply after close opens a new activity', async () => {
      const ticketId = await makeTicket(queueId);
      await makeMessage(queueId, ticketId);
      await createActivitiesForQueue(db(), queueId, testLogger);
      await db()('email_activities').where({ ticket_id: ticketId }).update({ state: 'closed', closed_at: AT });
      await makeMessage(queueId, ticketId);
      assert.equal((await createActivitiesForQueue(db(), queueId, testLogger)).created, 1);
      const states = (await db()('email_activities').where({ ticket_id: ticketId }).orderBy('id').select('state')).map((row: { state: string }) => row.state);
      assert.deepEqual(states, ['closed', 'waiting']);
    });

    test('second run changes nothing', async () => {
      const before = await db()('email_activity_messages').count<{ count: string }>('* as count').first();
      assert.deepEqual(await createActivitiesForQueue(db(), queueId, testLogger), { created: 0, joined: 0, skipped: 0, more: false });
      const after = await db()('email_activity_messages').count<{ count: string }>('* as count').first();
      assert.equal(after?.count, before?.count);
    });

    test('two unfinished activities per ticket are refused', async () => {
      const ticketId = await makeTicket(queueId);
      await db()('email_activities').insert({ queue_id: queueId, ticket_id: ticketId });
      await assert.rejects(db()('email_activities').insert({ queue_id: queueId, ticket_id: ticketId }), /email_activities_one_unfinished_per_ticket/);
    });

    test('open activity without agent is refused', async () => {
      const ticketId = await makeTicket(queueId);
      await assert.rejects(db()('email_activities').insert({ queue_id: queueId, ticket_id: ticketId, state: 'open', assigned_at: AT }), /email_activities_agent_check/);
    });
  });

  describe('offers', () => {
    let queueA: number;
    let queueB: number;

    before(async () => {
      queueA = await makeQueue(2, { offer_timeout_seconds: 30 });
      queueB = await makeQueue(3);
    });

    test('concurrent offers of one activity: one wins', async () => {
      const activityId = await waitingActivity(queueA);
      const first = await makeAgent('race1', [queueA]);
      const second = await makeAgent('race2', [queueA]);
      const outcomes = await Promise.all([
        offerActivity(db(), { activityId, userId: first, offerId: 'race:a', at: AT, timeoutSeconds: 30 }),
        offerActivity(db(), { activityId, userId: second, offerId: 'race:b', at: AT, timeoutSeconds: 30 }),
      ]);
      assert.deepEqual([...outcomes].sort(), ['offered', 'taken']);
      const row = await db()('email_activities').where({ id: activityId }).first('state', 'agent_user_id');
      assert.equal(row.state, 'offered');
      assert.equal(row.agent_user_id, outcomes[0] === 'offered' ? first : second);
    });

    test('capacity holds across two queues at once', async () => {
      const agentId = await makeAgent('busy', [queueA, queueB]);
      const fromA = await waitingActivity(queueA);
      const fromB = await waitingActivity(queueB);
      const outcomes = await Promise.all([
        offerActivity(db(), { activityId: fromA, userId: agentId, offerId: 'cap:a', at: AT, timeoutSeconds: 30 }),
        offerActivity(db(), { activityId: fromB, userId: agentId, offerId: 'cap:b', at: AT, timeoutSeconds: 30 }),
      ]);
      assert.deepEqual([...outcomes].sort(), ['agent-unavailable', 'offered']);
      const held = await db()('email_activities').where({ agent_user_id: agentId }).whereIn('state', ['offered', 'open']).count<{ count: string }>('id as count').first();
      assert.equal(Number(held?.count), 1);
    });

    test('retried offer returns the committed result', async () => {
      const agentId = await makeAgent('retry', [queueA]);
      const activityId = await waitingActivity(queueA);
      const request = { activityId, userId: agentId, offerId: 'retry:1', at: AT, timeoutSeconds: 30 };
      assert.equal(await offerActivity(db(), request), 'offered');
      assert.equal(await offerActivity(db(), request), 'offered');
      const row = await db()('email_activities').where({ id: activityId }).first('offer_count');
      assert.equal(row.offer_count, 1);
    });

    test('agent in wrap-up gets no offer', async () => {
      const agentId = await makeAgent('resting', [queueA], { wrapUpUntilMs: later(60).getTime() });
      const activityId = await waitingActivity(queueA);
      assert.equal(await offerActivity(db(), { activityId, userId: agentId, offerId: 'rest:1', at: AT, timeoutSeconds: 30 }), 'agent-unavailable');
    });

    test('agent not logged in gets no offer', async () => {
      const agentId = await makeAgent('away', []);
      await allowQueueAgent(db(), queueA, agentId);
      const activityId = await waitingActivity(queueA);
      assert.equal(await offerActivity(db(), { activityId, userId: agentId, offerId: 'away:1', at: AT, timeoutSeconds: 30 }), 'agent-unavailable');
    });
  });

  describe('accept and close', () => {
    let single: number;
    let multiple: number;
    let agentId: number;
    let otherId: number;

    before(async () => {
      single = await makeQueue(4, { wrap_up_seconds: 30 });
      multiple = await makeQueue(5, { allow_multiple_statuses: true, wrap_up_seconds: 300 });
      agentId = await makeAgent('closer', [single, multiple], { capacity: 5 });
      otherId = await makeAgent('other', [single, multiple]);
    });

    /** Offers and accepts an activity once the agent's earlier wrap-ups are over. */
    async function openActivity(queueId: number): Promise<number> {
      const activityId = await waitingActivity(queueId);
      const wrapUpUntil = (await readAgentState(db(), agentId))?.wrapUpUntil ?? null;
      const at = new Date(Math.max(AT.getTime(), wrapUpUntil === null ? 0 : Date.parse(wrapUpUntil)));
      assert.equal(await offerActivity(db(), { activityId, userId: agentId, offerId: `open:${activityId}`, at, timeoutSeconds: 60 }), 'offered');
      await acceptActivity(db(), activityId, agentId, new Date(at.getTime() + 5000));
      return activityId;
    }

    test('unknown activity is named', async () => {
      await assert.rejects(acceptActivity(db(), 999_999, agentId, AT), { type: 'ActivityNotFound', message: /Activity 999999 does not exist: run `mailqueue activity list`/ });
    });

    test('another agent cannot accept the offer', async () => {
      const activityId = await waitingActivity(single);
      await offerActivity(db(), { activityId, userId: agentId, offerId: `other:${activityId}`, at: AT, timeoutSeconds: 60 });
      await assert.rejects(acceptActivity(db(), activityId, otherId, later(1)), /with another agent, not offered to you/);
    });

    test('expired offer cannot be accepted', async () => {
      const activityId = await waitingActivity(single);
      await offerActivity(db(), { activityId, userId: agentId, offerId: `late:${activityId}`, at: AT, timeoutSeconds: 60 });
      await assert.rejects(acceptActivity(db(), activityId, agentId, later(61)), /expired at 2026-03-02T10:01:00.000Z and it went back to the queue/);
      const row = await db()('email_activities').where({ id: activityId }).first('state', 'agent_user_id');
      assert.deepEqual(row, { state: 'waiting', agent_user_id: null });
    });

    test('accepting twice keeps it open', async () => {
      const activityId = await openActivity(single);
      const first = await findActivity(db(), activityId);
      const again = await acceptActivity(db(), activityId, agentId, later(6));
      assert.equal(again.state, 'open');
      assert.equal(again.assignedAt, first?.assignedAt);
    });

    test('second status on a single-status queue is refused', async () => {
      const activityId = await openActivity(single);
      await setActivityStatuses(db(), activityId, agentId, ['solved'], 'add');
      await assert.rejects(setActivityStatuses(db(), activityId, agentId, ['pending'], 'add'), /queue 4 allows one status per activity/);
      const replaced = await setActivityStatuses(db(), activityId, agentId, ['pending'], 'replace');
      assert.deepEqual(replaced.statuses, ['pending']);
    });

    test('several statuses where the queue allows them', async () => {
      const activityId = await openActivity(multiple);
      const result = await closeActivity(db(), activityId, agentId, later(10), ['solved', 'pending']);
      assert.deepEqual(result.activity.statuses, ['solved', 'pending']);
    });

    test('unknown status is refused', async () => {
      const activityId = await openActivity(single);
      await assert.rejects(setActivityStatuses(db(), activityId, agentId, ['vip'], 'add'), /Status "vip" does not exist: use one of/);
    });

    test('close starts the wrap-up in the database', async () => {
      const activityId = await openActivity(single);
      await assert.rejects(closeActivity(db(), activityId, otherId, later(2000)), /only the agent it is open with can close it/);
      const closed = await closeActivity(db(), activityId, agentId, later(2000));
      assert.equal(closed.wrapUpSeconds, 30);
      assert.equal(closed.activity.state, 'closed');
      assert.equal(closed.wrapUpUntil, later(2030).toISOString());
      assert.equal((await readAgentState(db(), agentId))?.wrapUpUntil, later(2030).toISOString());
    });

    test('closing twice returns the same result', async () => {
      const activityId = await openActivity(single);
      const first = await closeActivity(db(), activityId, agentId, later(3000));
      const second = await closeActivity(db(), activityId, agentId, later(3900));
      assert.equal(second.activity.closedAt, first.activity.closedAt);
      assert.equal(second.wrapUpSeconds, first.wrapUpSeconds);
    });

    test('wrap-up never moves back', async () => {
      const before = await readAgentState(db(), agentId);
      await saveAgentState(db(), { userId: agentId, capacity: 5, ready: true, pauseReason: null, wrapUpUntilMs: AT.getTime(), idleSinceMs: null, queueIds: [single, multiple] });
      assert.equal((await readAgentState(db(), agentId))?.wrapUpUntil, before?.wrapUpUntil);
    });
  });

  describe('agent state and dispatch', () => {
    let queueId: number;

    before(async () => {
      queueId = await makeQueue(6, { offer_timeout_seconds: 30 });
    });

    test('login keeps only allowed queues', async () => {
      const forbidden = await makeQueue(7);
      const agentId = await makeAgent('limited', [queueId]);
      const saved = await saveAgentState(db(), { userId: agentId, capacity: 1, ready: true, pauseReason: null, wrapUpUntilMs: null, idleSinceMs: null, queueIds: [queueId, forbidden] });
      assert.deepEqual(saved.queueIds, [queueId]);
      await saveAgentState(db(), { userId: agentId, capacity: 1, ready: false, pauseReason: 'done', wrapUpUntilMs: null, idleSinceMs: null, queueIds: [] });
    });

    test('longest idle agent gets the oldest activity', async () => {
      const recent = await makeAgent('recent', [queueId], { idleSinceMs: AT.getTime() - 1000 });
      const idle = await makeAgent('idle', [queueId], { idleSinceMs: AT.getTime() - 3_600_000 });
      const oldest = await waitingActivity(queueId);
      const newer = await waitingActivity(queueId);
      const result = await dispatchQueue(db(), queueId, AT, null, 'round:1', testLogger);
      assert.equal(result.offered, 2);
      assert.equal(result.nextOfferExpiresAt, later(30).toISOString());
      assert.equal((await findActivity(db(), oldest))?.agentUserId, idle);
      assert.equal((await findActivity(db(), newer))?.agentUserId, recent);
    });

    test('pause returns offers to waiting', async () => {
      const agentId = (await db()('users').where({ alias: 'idle' }).first('id')).id as number;
      const saved = await saveAgentState(db(), { userId: agentId, capacity: 1, ready: false, pauseReason: 'lunch', wrapUpUntilMs: null, idleSinceMs: null, queueIds: [queueId] });
      assert.deepEqual(saved.returnedOfferQueueIds, [queueId]);
      const held = await db()('email_activities').where({ agent_user_id: agentId, state: 'offered' }).count<{ count: string }>('id as count').first();
      assert.equal(Number(held?.count), 0);
    });

    test('closed hours expire offers but make none', async () => {
      const result = await dispatchQueue(db(), queueId, later(31), false, 'round:2', testLogger);
      assert.equal(result.expired, 1);
      assert.equal(result.offered, 0);
      assert.equal(result.waiting, 2);
      assert.equal(result.nextOfferExpiresAt, null);
    });

    test('retried round counts its own offers', async () => {
      const first = await dispatchQueue(db(), queueId, later(40), true, 'round:3', testLogger);
      const retried = await dispatchQueue(db(), queueId, later(40), true, 'round:3', testLogger);
      assert.equal(first.offered, 1);
      assert.equal(retried.offered, 1);
      assert.equal(retried.waiting, 1);
    });
  });

  describe('category rights', () => {
    let queueId: number;
    let round = 0;
    const dispatch = () => {
      round += 1;
      return dispatchQueue(db(), queueId, AT, null, `rights:${round}`, testLogger);
    };

    before(async () => {
      queueId = await makeQueue(9, { offer_timeout_seconds: 30 });
      await db()('categories').insert([{ name: 'Billing' }, { name: 'Demo' }]);
    });

    test('agent without the right is not offered', async () => {
      const billing = await makeAgent('billing-only', [queueId]);
      await grantCategory(db(), billing, 'Billing');
      const activityId = await waitingActivity(queueId, 'Demo');

      const lines: string[] = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
      const result = await dispatchQueue(db(), queueId, AT, null, 'rights:none', logger);

      assert.equal(result.offered, 0);
      assert.equal((await findActivity(db(), activityId))?.state, 'waiting');
      const notices = lines.map((line) => JSON.parse(line) as { msg: string; queueId: number; activityId: number; category: string }).filter((entry) => entry.activityId === activityId && entry.msg.includes('no logged-in agent'));
      assert.equal(notices.length, 1);
      assert.equal(notices[0].queueId, queueId);
      assert.equal(notices[0].category, 'Demo');
      assert.equal(await offerActivity(db(), { activityId, userId: billing, offerId: 'rights:direct', at: AT, timeoutSeconds: 30 }), 'category-not-granted');

      await saveAgentState(db(), { userId: billing, capacity: 1, ready: false, pauseReason: 'done', wrapUpUntilMs: null, idleSinceMs: null, queueIds: [] });
      await db()('email_activities').where({ id: activityId }).update({ state: 'closed', closed_at: AT });
    });

    test('agent with the right is offered', async () => {
      const demo = await makeAgent('demo-right', [queueId]);
      await grantCategory(db(), demo, 'Demo');
      const activityId = await waitingActivity(queueId, 'Demo');

      const result = await dispatch();
      assert.equal(result.offered, 1);
      const activity = await findActivity(db(), activityId);
      assert.equal(activity?.state, 'offered');
      assert.equal(activity?.agentUserId, demo);

      await saveAgentState(db(), { userId: demo, capacity: 1, ready: false, pauseReason: 'done', wrapUpUntilMs: null, idleSinceMs: null, queueIds: [] });
      await db()('email_activities').where({ id: activityId }).update({ state: 'closed', closed_at: AT });
    });

    test('uncategorised activity goes to any agent', async () => {
      const plain = await makeAgent('no-rights', [queueId]);
      const activityId = await waitingActivity(queueId, null);

      assert.equal((await dispatch()).offered, 1);
      assert.equal((await findActivity(db(), activityId))?.agentUserId, plain);

      await saveAgentState(db(), { userId: plain, capacity: 1, ready: false, pauseReason: 'done', wrapUpUntilMs: null, idleSinceMs: null, queueIds: [] });
      await db()('email_activities').where({ id: activityId }).update({ state: 'closed', closed_at: AT });
    });

    test('right revoked after planning is respected', async () => {
      const revoked = await makeAgent('revoked', [queueId]);
      await grantCategory(db(), revoked, 'Demo');
      const activityId = await waitingActivity(queueId, 'Demo');

      const plan = planOffers([{ id: activityId, category: 'Demo' }], await readDispatchCandidates(db(), queueId), AT.getTime());
      assert.deepEqual(plan, [[activityId, revoked]]);
      assert.equal(await revokeCategory(db(), revoked, 'Demo'), true);

      assert.equal(await offerActivity(db(), { activityId, userId: revoked, offerId: 'rights:revoked', at: AT, timeoutSeconds: 30 }), 'category-not-granted');
      const activity = await findActivity(db(), activityId);
      assert.equal(activity?.state, 'waiting');
      assert.equal(activity?.agentUserId, null);
    });
  });

  test('deleting a queue takes back its offers', async () => {
    const queueId = await makeQueue(90);
    const agentId = await makeAgent('dora', [queueId]);
    const activityId = await waitingActivity(queueId);
    assert.equal(await offerActivity(db(), { activityId, userId: agentId, offerId: 'deleted:a', at: AT, timeoutSeconds: 3600 }), 'offered');

    await softDeleteQueue(db(), queueId);

    const row: { state: string; agent_user_id: number | null } = await db()('email_activities').where({ id: activityId }).first('state', 'agent_user_id');
    assert.deepEqual(row, { state: 'waiting', agent_user_id: null });
  });
});
