/**
 * Round timing and summary statistics for the benchmarks: per-item durations, rounds,
 * the median round, and the ours/baseline ratio.
 */

/** One pass of one side over all its inputs. */
export interface Round {
  /** Items processed in the round. */
  items: number;
  /** Sum of the item times, in milliseconds. */
  totalMs: number;
  /** Wall time of each item, in milliseconds, in processing order. */
  itemMs: number[];
}

/** Summary of a side's median round. */
export interface RoundSummary {
  rounds: number;
  items: number;
  /** Items per second in the median round (by throughput). */
  perSecond: number;
  /** Median and 95th percentile item time of that round, in milliseconds. */
  p50Ms: number;
  p95Ms: number;
}

/**
 * Nearest-rank percentile (`fraction` in 0..1) of `values`, in their unit.
 * Throws on an empty list because a percentile of nothing would be a made-up number.
 */
export function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) {
    throw new Error('percentile of an empty list: run at least one item per round');
  }
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(fraction * sorted.length)));
  return sorted[rank - 1];
}

/** Throughput of a round in items per second. */
export function roundRate(round: Round): number {
  return round.totalMs === 0 ? Number.POSITIVE_INFINITY : (round.items * 1000) / round.totalMs;
}

/**
 * Picks the median round by throughput (the lower middle one for an even count) and
 * reports its items per second and per-item p50/p95. Using one whole round keeps the
 * three numbers consistent with each other.
 */
export function summariseRounds(rounds: readonly Round[]): RoundSummary {
  if (rounds.length === 0) {
    throw new Error('no rounds to summarise: set the round count to 1 or more');
  }
  const ordered = [...rounds].sort((a, b) => roundRate(a) - roundRate(b));
  const median = ordered[Math.floor((ordered.length - 1) / 2)];

  return {
    rounds: rounds.length,
    items: median.items,
    perSecond: roundRate(median),
    p50Ms: percentile(median.itemMs, 0.5),
    p95Ms: percentile(median.itemMs, 0.95),
  };
}

/**
 * Runs `work` once per item, in order, timing each call. The round total is the sum of
 * the item times, so `afterEach` (memory sampling) between items is not counted.
 */
export async function timeRound<T>(items: readonly T[], work: (item: T, index: number) => Promise<unknown>, afterEach?: () => void): Promise<Round> {
  const itemMs: number[] = [];
  let measuredMs = 0;

  for (let index = 0; index < items.length; index += 1) {
    const started = performance.now();
    await work(items[index], index);
    const elapsed = performance.now() - started;
    itemMs.push(elapsed);
    measuredMs += elapsed;
    afterEach?.();
  }

  return { items: items.length, totalMs: measuredMs, itemMs };
}

/** ours / baseline, or NaN when the baseline is zero (nothing to compare against). */
export function ratio(ours: number, baseline: number): number {
  return baseline === 0 ? Number.NaN : ours / baseline;
}
