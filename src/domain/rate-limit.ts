/**
 * Sliding-window rate limit for automatic mail. Pure: the current time is a parameter.
 */

import { FailureType, MailqueueError } from '../errors.js';

/** At most `max` sends within any `windowSeconds`-long window. */
export interface RateLimit {
  max: number;
  windowSeconds: number;
}

/**
 * Default limit for autoresponses to one address: 3 per hour. A customer who opens a
 * few tickets in a row still gets each acknowledgement, while a loop with another
 * autoresponder that slipped past the automation checks stops after 3 mails an hour
 * instead of one per poll.
 */
export const DEFAULT_RATE_LIMIT: Readonly<RateLimit> = Object.freeze({ max: 3, windowSeconds: 3600 });

/** Returns the problems with a rate limit; an empty list means it is usable. */
export function validateRateLimit(limit: RateLimit): string[] {
  const errors: string[] = [];

  if (!Number.isSafeInteger(limit.max) || limit.max < 0) {
    errors.push(`Rate limit max ${String(limit.max)} is invalid: use a whole number of sends, 0 or more.`);
  }
  if (!Number.isFinite(limit.windowSeconds) || limit.windowSeconds <= 0) {
    errors.push(`Rate limit windowSeconds ${String(limit.windowSeconds)} is invalid: use a number of seconds greater than 0.`);
  }

  return errors;
}

/**
 * Returns true when one more send is allowed at `nowMs`: fewer than `limit.max` earlier
 * sends fall in the window (nowMs - windowSeconds, nowMs]. Send times after `nowMs`
 * (clock skew between workers) count as inside the window, so skew can only delay a
 * send, never allow an extra one. All times are epoch milliseconds.
 *
 * @throws MailqueueError (InvalidConfiguration) when the limit is invalid.
 */
export function isWithinRateLimit(previousSendTimesMs: number[], nowMs: number, limit: RateLimit): boolean {
  const errors = validateRateLimit(limit);
  if (errors.length > 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, errors.join(' '), { limit });
  }

  const windowStartMs = nowMs - limit.windowSeconds * 1000;
  const sendsInWindow = previousSendTimesMs.filter((sentAtMs) => sentAtMs > windowStartMs).length;

  return sendsInWindow < limit.max;
}
