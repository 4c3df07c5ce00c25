import { setTimeout as delay } from 'node:timers/promises';

import type { Logger } from 'pino';

import type { MailqueueError } from '../errors.js';
import type { AccessTokenProvider } from './access-token.js';

/**
 * Outcome of one HTTP call to a mail API (Gmail, Graph), classified for the retry loop.
 * `failed` carries an error that no retry inside the adapter can fix.
 */
export type ApiOutcome<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'unauthorized'; status: number; code: string }
  | { kind: 'throttled'; status: number; code: string; retryAfterMs: number | null }
  | { kind: 'failed'; error: MailqueueError };

/** Limits on waiting for a throttled or failing API before the adapter gives up and the activity retries. */
export interface ApiRetryOptions {
  /** Maximum attempts of one call that receives 429 or 5xx (default 3). */
  maxAttempts?: number;
  /**
   * Maximum wait before another attempt, in milliseconds (default 30000). A Retry-After
   * above it ends the call at once, so an activity does not sleep for minutes.
   */
  maxWaitMs?: number;
  /** Wait after a 5xx or 429 without Retry-After, in milliseconds, doubled each attempt (default 1000). */
  baseWaitMs?: number;
}

/** Builds the error thrown when the adapter gives up; the adapter picks the FailureType. */
export interface ApiFailureFactory {
  /** Builds the error for a call whose refreshed token was rejected too. */
  unauthorized(status: number, code: string): MailqueueError;
  /** Builds the error for a call still throttled or failing after the bounded waits; `retryAfterMs` is the last Retry-After, if any. */
  throttled(status: number, code: string, retryAfterMs: number | null): MailqueueError;
}

const defaultMaxAttempts = 3;
const defaultMaxWaitMs = 30_000;
const defaultBaseWaitMs = 1000;

/**
 * Reads a Retry-After header value: delay-seconds or an HTTP date (RFC 9110, 10.2.3).
 * @returns milliseconds to wait (0 for a date in the past), or null when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | null {
  if (value === null || value === undefined || value.trim() === '') {
    return null;
  }
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    return Number(trimmed) * 1000;
  }
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) {
    return null;
  }
  return Math.max(0, date - nowMs);
}

/**
 * Runs one API call with an access token and applies the retry rules every cloud adapter shares.
 *
 * A 401 invalidates the provider's token and the call runs once more with a new one. A second
 * 401 throws `failures.unauthorized`. A 429 or 5xx waits for Retry-After (or a doubling base
 * wait) and tries again, at most `maxAttempts` times and at most `maxWaitMs` per wait, then
 * throws `failures.throttled`.
 *
 * `attempt` receives the access token and must not log it or put it into an error.
 * `context` is logged with every retry (ids only, never tokens).
 */
export async function callWithRetries<T>(
  tokens: AccessTokenProvider,
  attempt: (accessToken: string) => Promise<ApiOutcome<T>>,
  failures: ApiFailureFactory,
  options: ApiRetryOptions,
  log: Logger,
  context: Record<string, unknown>,
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? defaultMaxAttempts;
  const maxWaitMs = options.maxWaitMs ?? defaultMaxWaitMs;
  const baseWaitMs = options.baseWaitMs ?? defaultBaseWaitMs;
  let refreshedAfterUnauthorized = false;
  let throttledAttempts = 0;

  for (;;) {
    const accessToken = await tokens.getAccessToken();
    const outcome = await attempt(accessToken);

    if (outcome.kind === 'ok') {
      return outcome.value;
    }
    if (outcome.kind === 'failed') {
      throw outcome.error;
    }

    if (outcome.kind === 'unauthorized') {
      if (refreshedAfterUnauthorized) {
        throw failures.unauthorized(outcome.status, outcome.code);
      }
      refreshedAfterUnauthorized = true;
      tokens.invalidate();
      log.info({ ...context, status: outcome.status, code: outcome.code }, 'access token rejected, retrying with a new one');
      continue;
    }

    throttledAttempts += 1;
    const waitMs = outcome.retryAfterMs ?? baseWaitMs * 2 ** (throttledAttempts - 1);
    if (throttledAttempts >= maxAttempts || waitMs > maxWaitMs) {
      throw failures.throttled(outcome.status, outcome.code, outcome.retryAfterMs);
    }
    log.warn({ ...context, status: outcome.status, code: outcome.code, waitMs, attempt: throttledAttempts }, 'mail API throttled or failing, waiting before retry');
    await delay(waitMs);
  }
}
