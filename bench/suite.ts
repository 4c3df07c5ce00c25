/**
 * The `npm run bench` sequence: parse, ingest and threading benchmarks, each against a
 * baseline measured in this run on this machine, then one summary table.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { childLogger } from '../src/logger.js';
import { newSecretKey, startTestDatabase } from '../test/support/environment.js';
import { runIngestBench } from './ingest-bench.js';
import { loadSharedInputs, sharedRoot } from './inputs.js';
import { collectsGarbage } from './memory.js';
import { runParseBench } from './parse-bench.js';
import { mebibytes, summaryTable, type Measurement } from './report.js';
import { runThreadBench } from './thread-bench.js';

/** Default number of measured rounds per side, overridden by BENCH_ROUNDS. Three keeps the run within 70 to 90 seconds on two cores. */
const defaultRounds = 3;
const maxRounds = 20;

/** Pending messages per threading round, as the benchmark specification requires. */
const threadMessages = 500;

function roundsFromEnvironment(): number {
  const value = process.env.BENCH_ROUNDS;
  if (value === undefined || value === '') return defaultRounds;

  const rounds = Number(value);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > maxRounds) {
    throw new Error(`BENCH_ROUNDS=${value} is not a whole number from 1 to ${maxRounds}: set it to, say, ${defaultRounds}, or unset it`);
  }
  return rounds;
}

function printMachine(): void {
  const processors = cpus();
  console.log('# mailqueue benchmarks');
  console.log(
    `node ${process.version}, ${process.platform}/${process.arch}, ${processors.length} CPUs (${processors[0]?.model ?? 'unknown model'}), ` +
      `${mebibytes(totalmem())} MiB RAM, full GC before each measured side: ${collectsGarbage ? 'yes' : 'no'}`,
  );
  // Other processes share the CPUs, and a load above the CPU count makes every number noisier.
  console.log(`load average at start (1, 5, 15 min): ${loadavg().map((load) => load.toFixed(2)).join(', ')}`);
}

/**
 * Runs every benchmark and prints the results. Throws when a setup step fails. The database
 * starts only after the parse benchmark, so PostgreSQL does not compete for the CPUs there.
 */
export async function runBenchmarks(): Promise<void> {
  const rounds = roundsFromEnvironment();
  const log = childLogger({ module: 'bench' });
  const started = performance.now();
  const measurements: Measurement[] = [];
  printMachine();

  const inputs = loadSharedInputs();
  if (inputs === null || inputs.length === 0) {
    console.log(`\nno .eml files under ${sharedRoot}: parse and ingest benchmarks skipped`);
  } else {
    measurements.push(...(await runParseBench(inputs, { rounds, warmupItems: 20 })));
  }

  const database = await startTestDatabase();
  try {
    const secretKey = newSecretKey();
    if (inputs !== null && inputs.length > 0) {
      measurements.push(...(await runIngestBench(database.db, secretKey, inputs, { rounds, warmupItems: 10 }, log)));
    }
    measurements.push(...(await runThreadBench(database.db, secretKey, { rounds, messages: threadMessages, warmupMessages: 50 }, log)));
  } finally {
    await database.stop();
  }

  console.log('\n## summary (ours/baseline: above 1 means ours has more of the metric)');
  console.log(summaryTable(measurements));
  console.log(`\ntotal time ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
