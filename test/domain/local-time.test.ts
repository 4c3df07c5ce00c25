import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { addDays, isoWeekday, localDateAt, localWallTimeToInstant } from '../../src/domain/local-time.js';

describe('localWallTimeToInstant', () => {
  const rows: Array<{ name: string; zone: string; date: [number, number, number]; time: [number, number]; expected: string }> = [
    { name: 'winter time prague', zone: 'Europe/Prague', date: [2026, 1, 15], time: [8, 0], expected: '2026-01-15T07:00:00.000Z' },
    { name: 'summer time prague', zone: 'Europe/Prague', date: [2026, 7, 15], time: [8, 0], expected: '2026-07-15T06:00:00.000Z' },
    { name: 'spring gap start', zone: 'Europe/Prague', date: [2026, 3, 29], time: [2, 0], expected: '2026-03-29T01:00:00.000Z' },
    { name: 'spring gap middle', zone: 'Europe/Prague', date: [2026, 3, 29], time: [2, 30], expected: '2026-03-29T01:00:00.000Z' },
    { name: 'spring gap end', zone: 'Europe/Prague', date: [2026, 3, 29], time: [3, 0], expected: '2026-03-29T01:00:00.000Z' },
    { name: 'before spring gap', zone: 'Europe/Prague', date: [2026, 3, 29], time: [1, 59], expected: '2026-03-29T00:59:00.000Z' },
    { name: 'autumn ambiguous first occurrence', zone: 'Europe/Prague', date: [2026, 10, 25], time: [2, 30], expected: '2026-10-25T00:30:00.000Z' },
    { name: 'autumn after overlap', zone: 'Europe/Prague', date: [2026, 10, 25], time: [3, 0], expected: '2026-10-25T02:00:00.000Z' },
    { name: 'end of day 24:00', zone: 'Europe/Prague', date: [2026, 3, 28], time: [24, 0], expected: '2026-03-28T23:00:00.000Z' },
    { name: 'new york spring gap', zone: 'America/New_York', date: [2026, 3, 8], time: [2, 30], expected: '2026-03-08T07:00:00.000Z' },
    { name: 'sydney autumn ambiguous', zone: 'Australia/Sydney', date: [2026, 4, 5], time: [2, 30], expected: '2026-04-04T15:30:00.000Z' },
    { name: 'lord howe half-hour gap', zone: 'Australia/Lord_Howe', date: [2026, 10, 4], time: [2, 15], expected: '2026-10-03T15:30:00.000Z' },
    { name: 'utc zone', zone: 'UTC', date: [2026, 3, 29], time: [2, 30], expected: '2026-03-29T02:30:00.000Z' },
  ];

  for (const row of rows) {
    test(row.name, () => {
      const [year, month, day] = row.date;
      const [hours, minutes] = row.time;
      const instant = localWallTimeToInstant({ year, month, day }, hours * 60 + minutes, row.zone);
      assert.equal(new Date(instant).toISOString(), row.expected);
    });
  }

  test('rejects unknown zone', () => {
    assert.throws(() => localWallTimeToInstant({ year: 2026, month: 1, day: 1 }, 0, 'Mars/Olympus'), /Mars\/Olympus/);
  });
});

describe('calendar helpers', () => {
  test('localDateAt across midnight', () => {
    assert.deepEqual(localDateAt(Date.parse('2026-03-28T23:30:00Z'), 'Europe/Prague'), { year: 2026, month: 3, day: 29 });
  });

  test('addDays across month end', () => {
    assert.deepEqual(addDays({ year: 2026, month: 2, day: 28 }, 1), { year: 2026, month: 3, day: 1 });
  });

  test('isoWeekday sunday is seven', () => {
    assert.equal(isoWeekday({ year: 2026, month: 3, day: 29 }), 7);
  });

  test('isoWeekday monday is one', () => {
    assert.equal(isoWeekday({ year: 2026, month: 3, day: 30 }), 1);
  });
});
