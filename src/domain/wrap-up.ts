/**
 * Wrap-up time: after finishing an activity an agent gets no offer until the finished
 * activity's queue wrap-up has passed. Pure; times are epoch milliseconds.
 */

/**
 * Returns the new wrap-up end after finishing an activity at `finishedAtMs` in a queue with
 * `wrapUpSeconds`. Finishing several activities in a row keeps the latest end: wrap-up is
 * never shortened by a later, shorter one.
 */
export function extendWrapUp(currentUntilMs: number | null, finishedAtMs: number, wrapUpSeconds: number): number {
  const end = finishedAtMs + Math.max(0, wrapUpSeconds) * 1000;
  return currentUntilMs === null ? end : Math.max(currentUntilMs, end);
}

/** Returns whether the agent is still in wrap-up at `atMs`. */
export function inWrapUp(untilMs: number | null, atMs: number): boolean {
  return untilMs !== null && untilMs > atMs;
}

/** Milliseconds left of wrap-up at `atMs`; 0 when none is running. */
export function wrapUpRemainingMs(untilMs: number | null, atMs: number): number {
  return untilMs !== null && untilMs > atMs ? untilMs - atMs : 0;
}
