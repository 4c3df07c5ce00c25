/**
 * Conversion between instants and local wall-clock time in an IANA time zone, with
 * explicit rules for the daylight-saving gap and overlap. Pure: no clock reads.
 */

import { IANAZone } from 'luxon';

/** A calendar date without a time zone. */
export interface LocalDate {
  year: number;
  /** 1 = January. */
  month: number;
  day: number;
}

const millisecondsPerMinute = 60_000;
const millisecondsPerDay = 86_400_000;

/** Returns true when `timeZone` is an IANA zone name in this runtime's time zone data, e.g. `Europe/Prague`. */
export function isValidTimeZone(timeZone: string): boolean {
  return IANAZone.isValidZone(timeZone);
}

/** Returns the zone's offset from UTC in minutes at an instant (epoch milliseconds). */
function offsetMinutes(zone: IANAZone, instantMs: number): number {
  return zone.offset(instantMs);
}

/** Returns the local calendar date at an instant (epoch milliseconds) in `timeZone`. */
export function localDateAt(instantMs: number, timeZone: string): LocalDate {
  const zone = IANAZone.create(timeZone);
  const wallClock = new Date(instantMs + offsetMinutes(zone, instantMs) * millisecondsPerMinute);

  return { year: wallClock.getUTCFullYear(), month: wallClock.getUTCMonth() + 1, day: wallClock.getUTCDate() };
}

/** Returns the date `days` calendar days after `date` (negative for earlier dates). */
export function addDays(date: LocalDate, days: number): LocalDate {
  const shifted = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: shifted.getUTCFullYear(), month: shifted.getUTCMonth() + 1, day: shifted.getUTCDate() };
}

/** Returns the ISO weekday of a date: 1 = Monday ... 7 = Sunday. */
export function isoWeekday(date: LocalDate): number {
  const sundayBased = new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay();
  return sundayBased === 0 ? 7 : sundayBased;
}

/** Formats a date as `YYYY-MM-DD`. */
export function formatLocalDate(date: LocalDate): string {
  const month = String(date.month).padStart(2, '0');
  const day = String(date.day).padStart(2, '0');
  return `${String(date.year).padStart(4, '0')}-${month}-${day}`;
}

/**
 * Finds the instant at which the offset changes, given an instant before and one at or
 * after the change. Offsets change on whole minutes, so the search stops at minute
 * precision and returns the first minute with the new offset.
 */
function findTransition(zone: IANAZone, beforeMs: number, afterMs: number): number {
  let low = Math.floor(beforeMs / millisecondsPerMinute);
  let high = Math.ceil(afterMs / millisecondsPerMinute);
  const offsetBefore = offsetMinutes(zone, low * millisecondsPerMinute);

  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (offsetMinutes(zone, middle * millisecondsPerMinute) === offsetBefore) low = middle;
    else high = middle;
  }

  return high * millisecondsPerMinute;
}

/**
 * Converts a local wall-clock time to an instant (epoch milliseconds).
 *
 * `minutesAfterMidnight` may reach 1440 or more; it then counts into the following days,
 * so `24:00` is midnight at the end of `date`. A wall time that does not exist because
 * the clocks jump forward (02:30 on the spring change in Europe/Prague) resolves to the
 * first instant after the gap (03:00 local). A wall time that occurs twice because the
 * clocks go back resolves to its first occurrence (summer time). Assumes at most one
 * offset change within a day of the wall time, which holds for every IANA zone.
 *
 * @throws Error when `timeZone` is not a valid IANA zone name.
 */
export function localWallTimeToInstant(date: LocalDate, minutesAfterMidnight: number, timeZone: string): number {
  const zone = IANAZone.create(timeZone);
  if (!zone.isValid) {
    throw new Error(`Time zone ${JSON.stringify(timeZone)} is not a valid IANA zone name: use a name such as "Europe/Prague".`);
  }

  // The wall time read as if it were UTC; subtracting the right offset gives the instant.
  const wallAsUtcMs = Date.UTC(date.year, date.month - 1, date.day) + minutesAfterMidnight * millisecondsPerMinute;
  const offsetEarlier = offsetMinutes(zone, wallAsUtcMs - millisecondsPerDay);
  const offsetLater = offsetMinutes(zone, wallAsUtcMs + millisecondsPerDay);

  // A larger offset gives an earlier instant, so trying it first picks the first occurrence.
  const candidateOffsets = [Math.max(offsetEarlier, offsetLater), Math.min(offsetEarlier, offsetLater)];
  for (const offset of candidateOffsets) {
    const instantMs = wallAsUtcMs - offset * millisecondsPerMinute;
    if (offsetMinutes(zone, instantMs) === offset) return instantMs;
  }

  // No offset fits, so the wall time falls into a forward gap: return the end of the gap.
  const beforeGapMs = wallAsUtcMs - offsetLater * millisecondsPerMinute;
  const afterGapMs = wallAsUtcMs - offsetEarlier * millisecondsPerMinute;
  return findTransition(zone, beforeGapMs, afterGapMs);
}
