import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { extendWrapUp, inWrapUp, wrapUpRemainingMs } from '../../src/domain/wrap-up.js';

const AT = Date.parse('2026-03-02T10:00:00Z');

describe('wrap-up', () => {
  test('starts at the finish time', () => {
    assert.equal(extendWrapUp(null, AT, 30), AT + 30_000);
  });

  test('zero seconds ends at once', () => {
    const until = extendWrapUp(null, AT, 0);
    assert.equal(until, AT);
    assert.equal(inWrapUp(until, AT), false);
  });

  test('two in a row keep the later end', () => {
    const first = extendWrapUp(null, AT, 300);
    assert.equal(extendWrapUp(first, AT + 10_000, 30), AT + 300_000);
    assert.equal(extendWrapUp(first, AT + 10_000, 600), AT + 610_000);
  });

  test('remaining time counts down', () => {
    assert.equal(wrapUpRemainingMs(AT + 30_000, AT + 10_000), 20_000);
    assert.equal(wrapUpRemainingMs(AT + 30_000, AT + 40_000), 0);
    assert.equal(wrapUpRemainingMs(null, AT), 0);
  });
});
