import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { parseViewDefinition, parseViewFilters, parseViewOrder, priorityRank } from '../../src/domain/view-definition.js';

function errorsOf(document: unknown): string[] {
  return parseViewDefinition(document).errors;
}

describe('view definition', () => {
  test('empty document matches everything in the default order', () => {
    assert.deepEqual(parseViewDefinition({}), { value: { filters: {}, order: [] }, errors: [] });
  });

  test('every filter is accepted', () => {
    const document = {
      filters: {
        categories: ['UK Leads'],
        statuses: ['new', 'open'],
        stages: ['qualified'],
        priorities: ['high', 'urgent'],
        owners: ['me', 'none', 'Jan.Novak'],
        queues: [7],
        customFields: { country: 'UK', vip: true, score: [1, 2] },
        idleForAtLeastSeconds: 3600,
        idleForAtMostSeconds: 86_400,
        createdFrom: '2026-01-01T00:00:00Z',
        createdTo: '2026-02-01T00:00:00+01:00',
        updatedFrom: '2026-01-01T00:00:00.5Z',
        updatedTo: '2026-03-01T00:00:00-05:00',
      },
      order: [{ field: 'priority', direction: 'desc' }, { field: 'number' }],
    };
    const parsed = parseViewDefinition(document);
    assert.deepEqual(parsed.errors, []);
    assert.deepEqual(parsed.value?.filters.owners, ['me', 'none', 'jan.novak']);
    assert.deepEqual(parsed.value?.order, [{ field: 'priority', direction: 'desc' }, { field: 'number', direction: 'asc' }]);
  });

  const rejected: Array<[description: string, document: unknown, expected: RegExp]> = [
    ['unknown filter named with its path', { filters: { category: ['x'] } }, /^filters\.category: unknown field/],
    ['unknown top-level field', { filter: {} }, /^filter: unknown field/],
    ['unknown priority', { filters: { priorities: ['asap'] } }, /^filters\.priorities\.0: must be one of low, normal, high, urgent/],
    ['empty category list', { filters: { categories: [] } }, /^filters\.categories: must not be an empty list: leave the field out/],
    ['empty category name', { filters: { categories: [' '] } }, /^filters\.categories\.0: must not be empty/],
    ['owner that is no alias', { filters: { owners: ['Jan Novak'] } }, /^filters\.owners\.0: must be a user alias, "me" or "none"/],
    ['queue as text', { filters: { queues: ['7'] } }, /^filters\.queues\.0: must be a queue number/],
    ['fractional queue', { filters: { queues: [1.5] } }, /^filters\.queues\.0: must be a whole queue number/],
    ['custom field object value', { filters: { customFields: { country: { is: 'UK' } } } }, /^filters\.customFields\.country/],
    ['negative idle time', { filters: { idleForAtLeastSeconds: -1 } }, /^filters\.idleForAtLeastSeconds: must be 0 or more seconds/],
    ['idle bounds reversed', { filters: { idleForAtLeastSeconds: 100, idleForAtMostSeconds: 10 } }, /^filters\.idleForAtMostSeconds: must not be less than idleForAtLeastSeconds \(100\)/],
    ['time without offset', { filters: { createdFrom: '2026-01-01T00:00:00' } }, /^filters\.createdFrom: must be an ISO 8601 time with an offset/],
    ['date only', { filters: { updatedTo: '2026-01-01' } }, /^filters\.updatedTo: must be an ISO 8601 time with an offset/],
    ['created range reversed', { filters: { createdFrom: '2026-02-01T00:00:00Z', createdTo: '2026-01-01T00:00:00Z' } }, /^filters\.createdTo: must be later than createdFrom/],
    ['empty updated range', { filters: { updatedFrom: '2026-01-01T00:00:00Z', updatedTo: '2026-01-01T01:00:00+01:00' } }, /^filters\.updatedTo: must be later than updatedFrom/],
    ['unknown order field', { order: [{ field: 'title' }] }, /^order\.0\.field: must be one of number, createdAt/],
    ['unknown direction', { order: [{ field: 'number', direction: 'down' }] }, /^order\.0\.direction: must be "asc" or "desc"/],
    ['order field twice', { order: [{ field: 'number' }, { field: 'number', direction: 'desc' }] }, /^order\.1\.field: "number" appears twice/],
    ['document not an object', ['filters'], /^\(document\)/],
  ];
  for (const [description, document, expected] of rejected) {
    test(`rejects ${description}`, () => {
      const errors = errorsOf(document);
      assert.ok(errors.some((line) => expected.test(line)), `expected ${expected} among ${JSON.stringify(errors)}`);
    });
  }

  test('every problem is reported at once', () => {
    const errors = errorsOf({ filters: { priorities: ['asap'], queues: [0] }, order: [{ field: 'title' }] });
    assert.equal(errors.length, 3, JSON.stringify(errors));
  });

  test('filters alone report paths under filters', () => {
    assert.match(parseViewFilters({ priorities: ['asap'] }).errors[0], /^filters\.priorities\.0: /);
    assert.deepEqual(parseViewFilters({ statuses: ['new'] }).value, { statuses: ['new'] });
  });

  test('order alone reports paths under order', () => {
    assert.match(parseViewOrder([{ field: 'size' }]).errors[0], /^order\.0\.field: /);
    assert.deepEqual(parseViewOrder([{ field: 'status', direction: 'desc' }]).value, [{ field: 'status', direction: 'desc' }]);
  });

  test('priority ranks from low to urgent', () => {
    assert.deepEqual((['urgent', 'low', 'high', 'normal'] as const).map(priorityRank), [3, 0, 2, 1]);
  });
});
