/**
 * Peak memory of one benchmark side, from process.memoryUsage() samples taken on a timer
 * and after every item (a timer alone misses synchronous stretches of work).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Peak values seen while a side ran, in bytes. */
export interface MemoryPeak {
  rssBytes: number;
  heapUsedBytes: number;
}

/** Milliseconds between timer samples. */
const sampleIntervalMs = 5;

/**
 * Returns a function that runs a full garbage collection, or null when V8 rejects the flag.
 * The flag is set at run time because `npm run bench` starts node without --expose-gc.
 * Collecting before each side keeps one side's garbage out of the other's peak.
 */
function loadCollector(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    const collect: unknown = runInNewContext('gc');
    return typeof collect === 'function' ? () => void collect() : null;
  } catch {
    return null;
  }
}

const collector = loadCollector();

/** True when a full collection runs before each side. The report prints it. */
export const collectsGarbage: boolean = collector !== null;

/** Records the peak RSS and heap used between start() and stop(). */
export class MemorySampler {
  private peak: MemoryPeak = { rssBytes: 0, heapUsedBytes: 0 };
  private timer: NodeJS.Timeout | undefined;

  /** Collects garbage (when possible), then starts sampling on a timer. */
  start(): void {
    collector?.();
    this.sample();
    this.timer = setInterval(() => this.sample(), sampleIntervalMs);
  }

  /** Takes one sample now. Call it between items. */
  sample(): void {
    const usage = process.memoryUsage();
    this.peak = {
      rssBytes: Math.max(this.peak.rssBytes, usage.rss),
      heapUsedBytes: Math.max(this.peak.heapUsedBytes, usage.heapUsed),
    };
  }

  /** Stops the timer and takes a last sample. Start and stop again to add more rounds. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
  }

  /** Peak over every start/stop span so far. */
  result(): MemoryPeak {
    return { ...this.peak };
  }
}
