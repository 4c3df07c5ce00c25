/**
 * Parse benchmark: our parseMessage (postal-mime in a worker thread with a time budget,
 * header and charset repairs, HTML sanitising) against bare PostalMime.parse with the
 * same options, on the same inputs, in the same process.
 */
import PostalMime from 'postal-mime';
import { parseMessage } from '../src/mail/parse.js';
import type { BenchInput } from './inputs.js';
import { MemorySampler } from './memory.js';
import { mebibytes, roundsLine, sectionTable, type Measurement } from './report.js';
import { summariseRounds, timeRound, type Round } from './stats.js';

export interface ParseBenchOptions {
  /** Measured rounds per side. The median round is reported. */
  rounds: number;
  /** Inputs parsed by each side before measuring, to warm up the JIT. */
  warmupItems: number;
}

/** Maximum wait for one bare-library parse, in milliseconds, the same as parseMessage's default budget. */
const baselineBudgetMs = 5000;

/** Library options our worker uses, so the baseline does the same library work. */
const libraryOptions = { forceRfc822Attachments: true, attachmentEncoding: 'arraybuffer' } as const;

interface Side {
  name: string;
  parse(raw: Buffer): Promise<boolean>;
  rounds: Round[];
  memory: MemorySampler;
  failures: number;
}

/** Parses with the bare library. Returns false when it throws or exceeds the budget. */
async function parseWithLibrary(raw: Buffer): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<false>((done) => {
    timer = setTimeout(() => done(false), baselineBudgetMs);
  });

  try {
    // NOTE: a synchronous loop inside the library would block this race. The corpus triggers none today.
    return await Promise.race([PostalMime.parse(raw, libraryOptions).then(() => true), budget]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

async function parseWithOurs(raw: Buffer): Promise<boolean> {
  const parsed = await parseMessage(raw);
  return parsed.parseError === null;
}

async function runRound(side: Side, inputs: readonly BenchInput[]): Promise<void> {
  side.memory.start();
  const round = await timeRound(
    inputs,
    async (input) => {
      if (!(await side.parse(input.raw))) side.failures += 1;
    },
    () => side.memory.sample(),
  );
  side.memory.stop();
  side.rounds.push(round);
}

/**
 * Runs the parse benchmark and prints its table. Rounds alternate which side goes first
 * so slow drift (thermal, other load) does not favour one side. Returns the measurements
 * for the summary.
 */
export async function runParseBench(inputs: readonly BenchInput[], options: ParseBenchOptions): Promise<Measurement[]> {
  const ours: Side = { name: 'parseMessage', parse: parseWithOurs, rounds: [], memory: new MemorySampler(), failures: 0 };
  const baseline: Side = { name: 'PostalMime.parse', parse: parseWithLibrary, rounds: [], memory: new MemorySampler(), failures: 0 };
  const bytes = inputs.reduce((sum, input) => sum + input.raw.length, 0);
  console.log(`\n## parse: ${inputs.length} messages, ${mebibytes(bytes)} MiB, ${options.rounds} rounds per side`);

  const warmup = inputs.slice(0, options.warmupItems);
  for (const side of [baseline, ours]) {
    for (const input of warmup) await side.parse(input.raw);
  }

  for (let round = 0; round < options.rounds; round += 1) {
    const order = round % 2 === 0 ? [baseline, ours] : [ours, baseline];
    for (const side of order) await runRound(side, inputs);
  }

  const oursSummary = summariseRounds(ours.rounds);
  const baselineSummary = summariseRounds(baseline.rounds);
  const oursPeak = ours.memory.result();
  const baselinePeak = baseline.memory.result();
  const measurements: Measurement[] = [
    { benchmark: 'parse', metric: 'throughput', unit: 'msg/s', ours: oursSummary.perSecond, baseline: baselineSummary.perSecond },
    { benchmark: 'parse', metric: 'p50 per message', unit: 'ms', ours: oursSummary.p50Ms, baseline: baselineSummary.p50Ms },
    { benchmark: 'parse', metric: 'p95 per message', unit: 'ms', ours: oursSummary.p95Ms, baseline: baselineSummary.p95Ms },
    { benchmark: 'parse', metric: 'peak RSS', unit: 'MiB', ours: mebibytes(oursPeak.rssBytes), baseline: mebibytes(baselinePeak.rssBytes) },
    { benchmark: 'parse', metric: 'peak heap used', unit: 'MiB', ours: mebibytes(oursPeak.heapUsedBytes), baseline: mebibytes(baselinePeak.heapUsedBytes) },
  ];

  console.log(sectionTable(ours.name, baseline.name, measurements));
  console.log(roundsLine(ours.name, ours.rounds, baseline.name, baseline.rounds));
  console.log(`failed or incomplete parses over all rounds: ${ours.name} ${ours.failures}, ${baseline.name} ${baseline.failures}`);
  return measurements;
}
