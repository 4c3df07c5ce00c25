import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { activitiesNoAgentMayWork, canTakeOffer, mayWorkCategory, planOffers, rankAgents, type DispatchCandidate, type WaitingActivity } from '../../src/domain/dispatch.js';

const AT = Date.parse('2026-03-02T10:00:00Z');

/** Waiting activities without a category, which any agent of the queue may work. */
function uncategorised(...ids: number[]): WaitingActivity[] {
  return ids.map((id) => ({ id, category: null }));
}

function agent(userId: number, fields: Partial<DispatchCandidate> = {}): DispatchCandidate {
  return { userId, ready: true, capacity: 1, busy: 0, wrapUpUntil: null, idleSince: AT - 60_000, categories: [], ...fields };
}

describe('choosing agents', () => {
  test('paused agent gets nothing', () => {
    assert.equal(canTakeOffer(agent(1, { ready: false }), AT), false);
  });

  test('agent in wrap-up gets nothing', () => {
    assert.equal(canTakeOffer(agent(1, { wrapUpUntil: AT + 1 }), AT), false);
  });

  test('wrap-up ending now allows an offer', () => {
    assert.equal(canTakeOffer(agent(1, { wrapUpUntil: AT }), AT), true);
  });

  test('full agent gets nothing', () => {
    assert.equal(canTakeOffer(agent(1, { capacity: 2, busy: 2 }), AT), false);
  });

  test('longest idle comes first', () => {
    const ranked = rankAgents([agent(1, { idleSince: AT - 1000 }), agent(2, { idleSince: AT - 9000 }), agent(3, { idleSince: null })], AT);
    assert.deepEqual(ranked.map((candidate) => candidate.userId), [3, 2, 1]);
  });

  test('equal idle goes to lower id', () => {
    const ranked = rankAgents([agent(7), agent(4)], AT);
    assert.deepEqual(ranked.map((candidate) => candidate.userId), [4, 7]);
  });
});

describe('planning offers', () => {
  test('backlog spreads over free agents', () => {
    const plan = planOffers(uncategorised(10, 11, 12), [agent(1, { idleSince: AT - 5000 }), agent(2, { idleSince: AT - 9000 })], AT);
    assert.deepEqual(plan, [
      [10, 2],
      [11, 1],
    ]);
  });

  test('capacity two takes two in turns', () => {
    const plan = planOffers(uncategorised(10, 11, 12, 13), [agent(1, { capacity: 2, idleSince: AT - 9000 }), agent(2, { idleSince: AT - 5000 })], AT);
    assert.deepEqual(plan, [
      [10, 1],
      [11, 2],
      [12, 1],
    ]);
  });

  test('busy slots are not offered again', () => {
    const plan = planOffers(uncategorised(10, 11), [agent(1, { capacity: 2, busy: 1 })], AT);
    assert.deepEqual(plan, [[10, 1]]);
  });

  test('no free agent means no offers', () => {
    assert.deepEqual(planOffers(uncategorised(10), [agent(1, { ready: false }), agent(2, { wrapUpUntil: AT + 30_000 })], AT), []);
  });
});

describe('offers by category', () => {
  test('category needs the granted right', () => {
    assert.equal(mayWorkCategory(agent(1, { categories: ['Billing'] }), 'Demo'), false);
    assert.equal(mayWorkCategory(agent(1, { categories: ['Billing'] }), 'Billing'), true);
  });

  test('no category suits every agent', () => {
    assert.equal(mayWorkCategory(agent(1), null), true);
  });

  test('category names match exactly', () => {
    assert.equal(mayWorkCategory(agent(1, { categories: ['billing'] }), 'Billing'), false);
  });

  test('agent skips to an allowed activity', () => {
    const plan = planOffers([{ id: 10, category: 'Demo' }, { id: 11, category: 'Billing' }], [agent(1, { categories: ['Billing'] })], AT);
    assert.deepEqual(plan, [[11, 1]]);
  });

  test('each agent gets its own category', () => {
    const waiting: WaitingActivity[] = [
      { id: 10, category: 'Demo' },
      { id: 11, category: 'Billing' },
      { id: 12, category: null },
    ];
    const billing = agent(1, { categories: ['Billing'], idleSince: AT - 9000 });
    const demo = agent(2, { categories: ['Demo'], idleSince: AT - 5000 });
    assert.deepEqual(planOffers(waiting, [billing, demo], AT), [
      [11, 1],
      [10, 2],
    ]);
  });

  test('uncategorised activity goes to anyone', () => {
    const plan = planOffers([{ id: 10, category: 'Demo' }, ...uncategorised(11)], [agent(1, { categories: ['Billing'] })], AT);
    assert.deepEqual(plan, [[11, 1]]);
  });

  test('activity no agent may work is reported', () => {
    const waiting: WaitingActivity[] = [{ id: 10, category: 'Demo' }, { id: 11, category: 'Billing' }, ...uncategorised(12)];
    // Readiness does not matter: a paused agent with the right may work it later.
    const candidates = [agent(1, { categories: ['Billing'], ready: false })];
    assert.deepEqual(activitiesNoAgentMayWork(waiting, candidates), [{ id: 10, category: 'Demo' }]);
  });

  test('no candidates report nothing', () => {
    assert.deepEqual(activitiesNoAgentMayWork([{ id: 10, category: 'Demo' }, ...uncategorised(11)], []), []);
  });
});
