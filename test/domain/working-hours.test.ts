import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { isOpenAt, nextChangeAfter, validateTimeGroup, type TimeGroup, type WeeklyInterval } from '../../src/domain/working-hours.js';

const zone = 'Europe/Prague';

/** Parses an ISO instant with its UTC offset written out, so each expectation states the local time too. */
function at(iso: string): number {
  const instant = Date.parse(iso);
  assert.ok(!Number.isNaN(instant), `bad test instant ${iso}`);
  return instant;
}

function iso(instant: number | null): string | null {
  return instant === null ? null : new Date(instant).toISOString();
}

const weekdays: WeeklyInterval[] = ([1, 2, 3, 4, 5] as const).map((day) => ({ day, open: '08:00', close: '17:00' }));

function group(weekly: WeeklyInterval[], exceptions: TimeGroup['exceptions'] = []): TimeGroup {
  return { timeZone: zone, weekly, exceptions };
}

const office = group(weekdays, [
  { date: '2026-04-06', open: false, note: 'Easter Monday' },
  { date: '2026-12-19', open: true, intervals: [{ open: '09:00', close: '12:00' }], note: 'Saturday before Christmas' },
]);
const sundayAcrossChange = group([{ day: 7, open: '02:00', close: '03:00' }]);
const sundayFromGap = group([{ day: 7, open: '02:30', close: '04:00' }]);
const fridayNight = group([{ day: 5, open: '22:00', close: '06:00' }]);
const saturdayNight = group([{ day: 6, open: '22:00', close: '06:00' }]);
const eveningToMidnight = group([
  { day: 1, open: '20:00', close: '24:00' },
  { day: 2, open: '00:00', close: '02:00' },
]);
const alwaysOpen = group(([1, 2, 3, 4, 5, 6, 7] as const).map((day) => ({ day, open: '00:00', close: '24:00' })));
const fridayNightWithSaturdayHoliday = group(fridayNight.weekly, [{ date: '2026-01-17', open: false }]);

describe('isOpenAt', () => {
  const rows: Array<{ name: string; group: TimeGroup; instant: string; expected: boolean }> = [
    { name: 'monday after spring change before opening', group: office, instant: '2026-03-30T07:59:59.999+02:00', expected: false },
    { name: 'monday after spring change at opening', group: office, instant: '2026-03-30T08:00:00+02:00', expected: true },
    { name: 'monday after autumn change before opening', group: office, instant: '2026-10-26T07:59:59.999+01:00', expected: false },
    { name: 'monday after autumn change at opening', group: office, instant: '2026-10-26T08:00:00+01:00', expected: true },
    { name: 'weekday at closing', group: office, instant: '2026-03-30T17:00:00+02:00', expected: false },
    { name: 'holiday exception closed', group: office, instant: '2026-04-06T10:00:00+02:00', expected: false },
    { name: 'day after holiday open', group: office, instant: '2026-04-07T10:00:00+02:00', expected: true },
    { name: 'special open saturday', group: office, instant: '2026-12-19T09:00:00+01:00', expected: true },
    { name: 'special open saturday closed after', group: office, instant: '2026-12-19T12:00:00+01:00', expected: false },
    { name: 'ordinary saturday closed', group: office, instant: '2026-12-12T10:00:00+01:00', expected: false },
    { name: 'spring gap interval never opens', group: sundayAcrossChange, instant: '2026-03-29T03:00:00+02:00', expected: false },
    { name: 'spring gap interval before gap', group: sundayAcrossChange, instant: '2026-03-29T01:59:00+01:00', expected: false },
    { name: 'autumn interval first two', group: sundayAcrossChange, instant: '2026-10-25T02:00:00+02:00', expected: true },
    { name: 'autumn interval second two-thirty', group: sundayAcrossChange, instant: '2026-10-25T02:30:00+01:00', expected: true },
    { name: 'autumn interval closes at three', group: sundayAcrossChange, instant: '2026-10-25T03:00:00+01:00', expected: false },
    { name: 'gap opening at gap end', group: sundayFromGap, instant: '2026-03-29T03:00:00+02:00', expected: true },
    { name: 'gap opening before gap', group: sundayFromGap, instant: '2026-03-29T01:59:59+01:00', expected: false },
    { name: 'over midnight before midnight', group: fridayNight, instant: '2026-01-16T23:00:00+01:00', expected: true },
    { name: 'over midnight after midnight', group: fridayNight, instant: '2026-01-17T05:59:59+01:00', expected: true },
    { name: 'over midnight at close', group: fridayNight, instant: '2026-01-17T06:00:00+01:00', expected: false },
    { name: 'over midnight before open', group: fridayNight, instant: '2026-01-16T21:59:59+01:00', expected: false },
    { name: 'exception keeps previous night', group: fridayNightWithSaturdayHoliday, instant: '2026-01-17T05:00:00+01:00', expected: true },
    { name: 'over midnight across spring change', group: saturdayNight, instant: '2026-03-29T05:59:00+02:00', expected: true },
    { name: 'twenty-four closing at midnight', group: eveningToMidnight, instant: '2026-01-19T23:59:59+01:00', expected: true },
  ];

  for (const row of rows) {
    test(row.name, () => {
      assert.equal(isOpenAt(row.group, at(row.instant)), row.expected);
    });
  }

  test('rejects invalid group', () => {
    assert.throws(() => isOpenAt({ timeZone: 'Nowhere/Else', weekly: [], exceptions: [] }, 0), /Nowhere\/Else/);
  });
});

describe('nextChangeAfter', () => {
  const rows: Array<{ name: string; group: TimeGroup; instant: string; expected: string | null }> = [
    { name: 'spring sunday to monday opening', group: office, instant: '2026-03-29T12:00:00+02:00', expected: iso(at('2026-03-30T08:00:00+02:00')) },
    { name: 'autumn sunday to monday opening', group: office, instant: '2026-10-25T12:00:00+01:00', expected: iso(at('2026-10-26T08:00:00+01:00')) },
    { name: 'open weekday to closing', group: office, instant: '2026-03-30T08:00:00+02:00', expected: iso(at('2026-03-30T17:00:00+02:00')) },
    { name: 'holiday skipped', group: office, instant: '2026-04-03T18:00:00+02:00', expected: iso(at('2026-04-07T08:00:00+02:00')) },
    { name: 'special open day opening', group: office, instant: '2026-12-18T18:00:00+01:00', expected: iso(at('2026-12-19T09:00:00+01:00')) },
    { name: 'special open day closing', group: office, instant: '2026-12-19T09:30:00+01:00', expected: iso(at('2026-12-19T12:00:00+01:00')) },
    { name: 'spring gap interval skipped', group: sundayAcrossChange, instant: '2026-03-28T12:00:00+01:00', expected: iso(at('2026-04-05T02:00:00+02:00')) },
    { name: 'autumn interval opening', group: sundayAcrossChange, instant: '2026-10-24T12:00:00+02:00', expected: iso(at('2026-10-25T02:00:00+02:00')) },
    { name: 'autumn interval lasts two hours', group: sundayAcrossChange, instant: '2026-10-25T02:00:00+02:00', expected: iso(at('2026-10-25T03:00:00+01:00')) },
    { name: 'gap opening resolves after gap', group: sundayFromGap, instant: '2026-03-29T00:00:00+01:00', expected: iso(at('2026-03-29T03:00:00+02:00')) },
    { name: 'over midnight close next day', group: fridayNight, instant: '2026-01-16T22:00:00+01:00', expected: iso(at('2026-01-17T06:00:00+01:00')) },
    { name: 'over midnight across spring change', group: saturdayNight, instant: '2026-03-28T22:00:00+01:00', expected: iso(at('2026-03-29T06:00:00+02:00')) },
    { name: 'no change at 24:00 join', group: eveningToMidnight, instant: '2026-01-19T21:00:00+01:00', expected: iso(at('2026-01-20T02:00:00+01:00')) },
    { name: 'exactly at closing', group: office, instant: '2026-03-30T17:00:00+02:00', expected: iso(at('2026-03-31T08:00:00+02:00')) },
    { name: 'no intervals never changes', group: group([]), instant: '2026-03-29T12:00:00+02:00', expected: null },
    { name: 'always open never changes', group: alwaysOpen, instant: '2026-03-29T12:00:00+02:00', expected: null },
    { name: 'only closing exception', group: group([], [{ date: '2026-05-01', open: false }]), instant: '2026-03-29T12:00:00+02:00', expected: null },
    { name: 'far special day found', group: group([], [{ date: '2027-03-01', open: true, intervals: [{ open: '10:00', close: '11:00' }] }]), instant: '2026-03-29T12:00:00+02:00', expected: iso(at('2027-03-01T10:00:00+01:00')) },
    { name: 'special day beyond horizon', group: group([], [{ date: '2027-06-01', open: true, intervals: [{ open: '10:00', close: '11:00' }] }]), instant: '2026-03-29T12:00:00+02:00', expected: null },
  ];

  for (const row of rows) {
    test(row.name, () => {
      assert.equal(iso(nextChangeAfter(row.group, at(row.instant))), row.expected);
    });
  }
});

describe('validateTimeGroup', () => {
  test('accepts office group', () => {
    assert.deepEqual(validateTimeGroup(office), []);
  });

  const invalid: Array<{ name: string; input: unknown; mentions: string }> = [
    { name: 'not an object', input: 'Europe/Prague', mentions: 'must be an object' },
    { name: 'unknown time zone', input: { timeZone: 'Europe/Atlantis', weekly: [], exceptions: [] }, mentions: 'Europe/Atlantis' },
    { name: 'single-digit hour', input: group([{ day: 1, open: '8:00', close: '17:00' }]), mentions: 'weekly[0].open "8:00"' },
    { name: 'open at 24:00', input: group([{ day: 1, open: '24:00', close: '02:00' }]), mentions: 'weekly[0].open "24:00"' },
    { name: 'close after 24:00', input: group([{ day: 1, open: '08:00', close: '24:01' }]), mentions: 'weekly[0].close "24:01"' },
    { name: 'weekday zero', input: { timeZone: zone, weekly: [{ day: 0, open: '08:00', close: '17:00' }], exceptions: [] }, mentions: 'weekly[0].day 0' },
    { name: 'weekly not a list', input: { timeZone: zone, weekly: {}, exceptions: [] }, mentions: 'weekly must be a list' },
    { name: 'impossible date', input: group([], [{ date: '2026-02-30', open: false }]), mentions: 'exceptions[0].date "2026-02-30"' },
    { name: 'duplicate date', input: group([], [{ date: '2026-05-01', open: false }, { date: '2026-05-01', open: false }]), mentions: 'exceptions[1].date "2026-05-01" appears' },
    { name: 'closed with intervals', input: group([], [{ date: '2026-05-01', open: false, intervals: [{ open: '09:00', close: '10:00' }] }]), mentions: 'closed but lists intervals' },
    { name: 'open without intervals', input: group([], [{ date: '2026-05-01', open: true }]), mentions: 'open but has no intervals' },
    { name: 'bad exception interval', input: group([], [{ date: '2026-05-01', open: true, intervals: [{ open: '09:60', close: '10:00' }] }]), mentions: 'exceptions[0].intervals[0].open "09:60"' },
    { name: 'exceptions missing', input: { timeZone: zone, weekly: [] }, mentions: 'exceptions must be a list' },
  ];

  for (const row of invalid) {
    test(`rejects ${row.name}`, () => {
      const errors = validateTimeGroup(row.input);
      assert.ok(errors.some((error) => error.includes(row.mentions)), `errors: ${JSON.stringify(errors)}`);
    });
  }
});
