import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { canTakeOffer, planOffers, rankAgents, type DispatchCandidate } from '../../src/domain/dispatch.js';

const AT = Date.parse('2026-03-02T10:00:00Z');

function agent(userId: number, fields: Partial<DispatchCandidate> = {}): DispatchCandidate {
  return { userId, ready: true, capacity: 1, busy: 0, wrapUpUntil: null, idleSince: AT - 60_000, ...fields };
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
    const plan = planOffers([10, 11, 12], [agent(1, { idleSince: AT - 5000 }), agent(2, { idleSince: AT - 9000 })], AT);
    assert.deepEqual(plan, [
      [10, 2],
      [11, 1],
    ]);
  });

  test('capacity two takes two in turns', () => {
    const plan = planOffers([10, 11, 12, 13], [agent(1, { capacity: 2, idleSince: AT - 9000 }), agent(2, { idleSince: AT - 5000 })], AT);
    assert.deepEqual(plan, [
      [10, 1],
      [11, 2],
      [12, 1],
    ]);
  });

  test('busy slots are not offered again', () => {
    const plan = planOffers([10, 11], [agent(1, { capacity: 2, busy: 1 })], AT);
    assert.deepEqual(plan, [[10, 1]]);
  });

  test('no free agent means no offers', () => {
    assert.deepEqual(planOffers([10], [agent(1, { ready: false }), agent(2, { wrapUpUntil: AT + 30_000 })], AT), []);
  });
});
