import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { DEFAULT_RATE_LIMIT, isWithinRateLimit, validateRateLimit } from '../../src/domain/rate-limit.js';

const now = Date.UTC(2026, 0, 15, 12, 0, 0);
const minute = 60_000;

describe('isWithinRateLimit', () => {
  const rows: Array<{ name: string; sends: number[]; limit?: { max: number; windowSeconds: number }; expected: boolean }> = [
    { name: 'no earlier sends', sends: [], expected: true },
    { name: 'two sends in window', sends: [now - 10 * minute, now - 5 * minute], expected: true },
    { name: 'three sends in window', sends: [now - 50 * minute, now - 10 * minute, now - minute], expected: false },
    { name: 'old sends outside window', sends: [now - 120 * minute, now - 90 * minute, now - 61 * minute], expected: true },
    { name: 'send exactly window ago', sends: [now - 60 * minute, now - 10 * minute, now - minute], expected: true },
    { name: 'send just inside window', sends: [now - 60 * minute + 1, now - 10 * minute, now - minute], expected: false },
    { name: 'future send counts', sends: [now + minute, now - 10 * minute, now - minute], expected: false },
    { name: 'zero max blocks', sends: [], limit: { max: 0, windowSeconds: 60 }, expected: false },
    { name: 'custom short window', sends: [now - 2 * minute], limit: { max: 1, windowSeconds: 60 }, expected: true },
  ];

  for (const row of rows) {
    test(row.name, () => {
      assert.equal(isWithinRateLimit(row.sends, now, row.limit ?? DEFAULT_RATE_LIMIT), row.expected);
    });
  }

  test('rejects zero window', () => {
    assert.throws(() => isWithinRateLimit([], now, { max: 3, windowSeconds: 0 }), /windowSeconds 0/);
  });
});

describe('validateRateLimit', () => {
  test('accepts default limit', () => {
    assert.deepEqual(validateRateLimit(DEFAULT_RATE_LIMIT), []);
  });

  test('rejects fractional max', () => {
    assert.equal(validateRateLimit({ max: 1.5, windowSeconds: 60 }).length, 1);
  });
});
