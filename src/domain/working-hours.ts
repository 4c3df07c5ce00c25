/**
 * Working hours ("time groups"): weekly opening intervals in a time zone, with dated
 * exceptions for holidays and special opening days. Pure: every instant is a parameter.
 */

import { FailureType, MailqueueError } from '../errors.js';
import {
  addDays,
  formatLocalDate,
  isoWeekday,
  isValidTimeZone,
  localDateAt,
  localWallTimeToInstant,
  type LocalDate,
} from './local-time.js';

/** ISO weekday: 1 = Monday ... 7 = Sunday. */
export type IsoWeekday = 1 | 2 | 3 | 4 | 5 | 6 | 7;

/**
 * An opening interval in local wall-clock time, `HH:MM` each. `close` may be `24:00`;
 * a `close` at or before `open` means the interval runs past midnight into the next day.
 */
export interface TimeInterval {
  open: string;
  close: string;
}

/** A weekly opening interval that starts on `day`. */
export interface WeeklyInterval extends TimeInterval {
  day: IsoWeekday;
}

/**
 * A dated exception. It replaces the weekly intervals that open on `date`: closed when
 * `open` is false, else open during `intervals` only.
 */
export interface DateException {
  /** Local date, `YYYY-MM-DD`. */
  date: string;
  open: boolean;
  /** Required when `open` is true, not allowed when it is false. */
  intervals?: TimeInterval[];
  note?: string;
}

/** Working hours of a queue. */
export interface TimeGroup {
  /** IANA time zone name, e.g. `Europe/Prague`. */
  timeZone: string;
  weekly: WeeklyInterval[];
  exceptions: DateException[];
}

/** How far ahead `nextChangeAfter` searches, in days. */
export const NEXT_CHANGE_SEARCH_DAYS = 400;

const minutesPerDay = 1440;
const millisecondsPerDay = 86_400_000;

/** Parses `HH:MM` to minutes after midnight; `24:00` only when `allowEndOfDay`. Returns null when invalid. */
function parseWallTime(value: unknown, allowEndOfDay: boolean): number | null {
  if (typeof value !== 'string') return null;
  if (allowEndOfDay && value === '24:00') return minutesPerDay;

  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(value);
  if (match === null) return null;

  return Number(match[1]) * 60 + Number(match[2]);
}

/** Parses `YYYY-MM-DD` to a date that exists in the calendar, or returns null. */
function parseLocalDate(value: unknown): LocalDate | null {
  if (typeof value !== 'string') return null;

  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (match === null) return null;

  const date = { year: Number(match[1]), month: Number(match[2]), day: Number(match[3]) };
  return formatLocalDate(addDays(date, 0)) === value ? date : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validateInterval(value: unknown, path: string): string[] {
  if (!isRecord(value)) return [`${path} must be an object with "open" and "close" times.`];

  const errors: string[] = [];
  if (parseWallTime(value.open, false) === null) {
    errors.push(`${path}.open ${JSON.stringify(value.open)} is invalid: use HH:MM from 00:00 to 23:59.`);
  }
  if (parseWallTime(value.close, true) === null) {
    errors.push(`${path}.close ${JSON.stringify(value.close)} is invalid: use HH:MM from 00:00 to 24:00.`);
  }

  return errors;
}

function validateWeekly(weekly: unknown): string[] {
  if (!Array.isArray(weekly)) return ['weekly must be a list of intervals such as { day: 1, open: "08:00", close: "17:00" }.'];

  return weekly.flatMap((entry: unknown, index) => {
    const path = `weekly[${index}]`;
    const errors = validateInterval(entry, path);
    const day = isRecord(entry) ? entry.day : undefined;

    if (isRecord(entry) && !(typeof day === 'number' && Number.isInteger(day) && day >= 1 && day <= 7)) {
      errors.push(`${path}.day ${JSON.stringify(day)} is invalid: use an ISO weekday from 1 (Monday) to 7 (Sunday).`);
    }

    return errors;
  });
}

function validateException(entry: unknown, path: string, seenDates: Set<string>): string[] {
  if (!isRecord(entry)) return [`${path} must be an object such as { date: "2026-12-24", open: false }.`];

  const errors: string[] = [];

  if (parseLocalDate(entry.date) === null) {
    errors.push(`${path}.date ${JSON.stringify(entry.date)} is invalid: use an existing date as YYYY-MM-DD.`);
  } else if (seenDates.has(entry.date as string)) {
    errors.push(`${path}.date ${JSON.stringify(entry.date)} appears in more than one exception: merge them into one.`);
  } else {
    seenDates.add(entry.date as string);
  }

  if (typeof entry.open !== 'boolean') {
    errors.push(`${path}.open ${JSON.stringify(entry.open)} is invalid: use true for a special opening day or false for a closed day.`);
  }

  const intervals = entry.intervals;
  if (intervals !== undefined && !Array.isArray(intervals)) {
    errors.push(`${path}.intervals must be a list of { open, close } intervals.`);
  }
  if (Array.isArray(intervals)) {
    intervals.forEach((interval: unknown, index) => errors.push(...validateInterval(interval, `${path}.intervals[${index}]`)));
  }

  const intervalCount = Array.isArray(intervals) ? intervals.length : 0;
  if (entry.open === false && intervalCount > 0) {
    errors.push(`${path} is closed but lists intervals: remove the intervals, or set open to true for a special opening day.`);
  }
  if (entry.open === true && intervalCount === 0) {
    errors.push(`${path} is open but has no intervals: add intervals such as [{ open: "09:00", close: "12:00" }], or "00:00" to "24:00" for the whole day.`);
  }

  if (entry.note !== undefined && typeof entry.note !== 'string') {
    errors.push(`${path}.note must be text.`);
  }

  return errors;
}

/**
 * Returns the problems with a time group read from configuration; an empty list means
 * `input` is a usable TimeGroup.
 */
export function validateTimeGroup(input: unknown): string[] {
  if (!isRecord(input)) return ['Time group must be an object with timeZone, weekly and exceptions.'];

  const errors: string[] = [];

  if (typeof input.timeZone !== 'string' || !isValidTimeZone(input.timeZone)) {
    errors.push(`timeZone ${JSON.stringify(input.timeZone)} is not a valid IANA time zone name: use a name such as "Europe/Prague".`);
  }

  errors.push(...validateWeekly(input.weekly));

  if (!Array.isArray(input.exceptions)) {
    errors.push('exceptions must be a list, empty when there are none.');
  } else {
    const seenDates = new Set<string>();
    input.exceptions.forEach((entry: unknown, index) => errors.push(...validateException(entry, `exceptions[${index}]`, seenDates)));
  }

  return errors;
}

function assertValidTimeGroup(group: TimeGroup): void {
  const errors = validateTimeGroup(group);
  if (errors.length > 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Time group is invalid: ${errors.join(' ')}`, { errors });
  }
}

/** An opening period as instants: open from `startMs` (inclusive) to `endMs` (exclusive). */
interface OpenPeriod {
  startMs: number;
  endMs: number;
}

/** Returns the intervals that open on `date`: the exception's when one exists, else the weekly ones. */
function intervalsOpeningOn(group: TimeGroup, exceptions: ReadonlyMap<string, DateException>, date: LocalDate): TimeInterval[] {
  const exception = exceptions.get(formatLocalDate(date));
  if (exception !== undefined) return exception.open ? (exception.intervals ?? []) : [];

  const weekday = isoWeekday(date);
  return group.weekly.filter((interval) => interval.day === weekday);
}

/** Converts the intervals opening on `date` to instants; periods emptied by a DST gap are dropped. */
function periodsOpeningOn(group: TimeGroup, exceptions: ReadonlyMap<string, DateException>, date: LocalDate): OpenPeriod[] {
  const periods: OpenPeriod[] = [];

  for (const interval of intervalsOpeningOn(group, exceptions, date)) {
    const openMinutes = parseWallTime(interval.open, false) ?? 0;
    let closeMinutes = parseWallTime(interval.close, true) ?? 0;
    if (closeMinutes <= openMinutes) closeMinutes += minutesPerDay;

    const startMs = localWallTimeToInstant(date, openMinutes, group.timeZone);
    const endMs = localWallTimeToInstant(date, closeMinutes, group.timeZone);
    if (endMs > startMs) periods.push({ startMs, endMs });
  }

  return periods;
}

function exceptionsByDate(group: TimeGroup): Map<string, DateException> {
  return new Map(group.exceptions.map((exception) => [exception.date, exception]));
}

/**
 * Returns true when the group is open at an instant (epoch milliseconds). Intervals
 * are half-open: open at `open`, closed at `close`. An interval belongs to the date on
 * which it opens, so an exception for a date does not cut short an overnight interval
 * that opened the day before.
 *
 * @throws MailqueueError (InvalidConfiguration) when the group is invalid.
 */
export function isOpenAt(group: TimeGroup, instantMs: number): boolean {
  assertValidTimeGroup(group);

  const exceptions = exceptionsByDate(group);
  const today = localDateAt(instantMs, group.timeZone);

  // An interval lasts at most a day plus a DST shift, so only yesterday's can reach today.
  for (const date of [addDays(today, -1), today]) {
    const periods = periodsOpeningOn(group, exceptions, date);
    if (periods.some((period) => period.startMs <= instantMs && instantMs < period.endMs)) return true;
  }

  return false;
}

/** Merges overlapping and touching periods, so a boundary between them is not taken for a change. */
function mergePeriods(periods: OpenPeriod[]): OpenPeriod[] {
  const sorted = [...periods].sort((a, b) => a.startMs - b.startMs);
  const merged: OpenPeriod[] = [];

  for (const period of sorted) {
    const last = merged.at(-1);
    if (last !== undefined && period.startMs <= last.endMs) last.endMs = Math.max(last.endMs, period.endMs);
    else merged.push({ ...period });
  }

  return merged;
}

/**
 * Returns the first instant after `instantMs` at which the group switches between open
 * and closed (epoch milliseconds), or null when it does not switch within
 * NEXT_CHANGE_SEARCH_DAYS days, e.g. a group without intervals or one open around the clock.
 *
 * @throws MailqueueError (InvalidConfiguration) when the group is invalid.
 */
export function nextChangeAfter(group: TimeGroup, instantMs: number): number | null {
  assertValidTimeGroup(group);

  const exceptions = exceptionsByDate(group);
  const today = localDateAt(instantMs, group.timeZone);
  const horizonMs = instantMs + NEXT_CHANGE_SEARCH_DAYS * millisecondsPerDay;

  const periods: OpenPeriod[] = [];
  for (let offset = -1; offset <= NEXT_CHANGE_SEARCH_DAYS + 1; offset += 1) {
    periods.push(...periodsOpeningOn(group, exceptions, addDays(today, offset)));
  }

  for (const period of mergePeriods(periods)) {
    const change = period.startMs > instantMs ? period.startMs : period.endMs;
    if (change <= instantMs) continue;

    // A period that reaches past the horizon was cut off by the search, not by a closing time.
    return change > horizonMs ? null : change;
  }

  return null;
}
