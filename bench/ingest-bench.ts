/**
 * Ingest benchmark: ingestRawMessage (parse, classify, hash, one transaction storing the
 * message, its attachments and its mailbox item) against a plain INSERT of the raw bytes
 * into a one-column bytea table, in the same PostgreSQL database.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ingestRawMessage, type IngestOutcome } from '../src/activities/ingest.js';
import type { BenchInput } from './inputs.js';
import { createBenchQueue } from './queues.js';
import { roundsLine, sectionTable, type Measurement } from './report.js';
import { summariseRounds, timeRound, type Round } from './stats.js';

export interface IngestBenchOptions {
  rounds: number;
  /** Inputs each side stores before measuring, into a queue and table rows of their own. */
  warmupItems: number;
}

/** Table of the baseline, created by the benchmark in its throwaway database. */
const rawTable = 'bench_raw_messages';

type OutcomeCounts = Record<IngestOutcome['status'] | 'parseFailed', number>;

async function insertRaw(db: Knex, raw: Buffer): Promise<void> {
  await db.raw(`INSERT INTO ${rawTable} (raw) VALUES (?)`, [raw]);
}

/** Ingests one round into a fresh queue. Distinct source keys and UIDs per round keep every row new. */
async function ingestRound(db: Knex, secretKey: Buffer, inputs: readonly BenchInput[], round: string, counts: OutcomeCounts, log: Logger): Promise<Round> {
  const queue = await createBenchQueue(db, secretKey, `ingest ${round}`);

  return timeRound(inputs, async (input, index) => {
    const outcome = await ingestRawMessage(
      db,
      input.raw,
      {
        queueId: queue.id,
        sourceKey: `bench-${round}-${index}`,
        maxMessageBytes: queue.maxMessageBytes,
        imported: false,
        mailbox: { folder: 'INBOX', uidValidity: '1', uid: index + 1 },
      },
      log,
    );
    counts[outcome.status] += 1;
    if (outcome.parseFailed) counts.parseFailed += 1;
  });
}

/**
 * Runs the ingest benchmark on `db` (a migrated, otherwise unused database) and prints
 * its table. Rounds alternate which side goes first. Returns the measurements.
 */
export async function runIngestBench(db: Knex, secretKey: Buffer, inputs: readonly BenchInput[], options: IngestBenchOptions, log: Logger): Promise<Measurement[]> {
  await db.raw(`CREATE TABLE IF NOT EXISTS ${rawTable} (raw bytea NOT NULL)`);
  const counts: OutcomeCounts = { stored: 0, 'already-stored': 0, duplicate: 0, parseFailed: 0 };
  const ours: Round[] = [];
  const baseline: Round[] = [];
  console.log(`\n## ingest: ${inputs.length} messages per round, ${options.rounds} rounds per side`);

  const warmup = inputs.slice(0, options.warmupItems);
  await ingestRound(db, secretKey, warmup, 'warmup', { ...counts }, log);
  for (const input of warmup) await insertRaw(db, input.raw);

  const runOurs = async (round: number): Promise<void> => {
    ours.push(await ingestRound(db, secretKey, inputs, `round${round}`, counts, log));
  };
  const runBaseline = async (): Promise<void> => {
    baseline.push(await timeRound(inputs, (input) => insertRaw(db, input.raw)));
  };
  for (let round = 0; round < options.rounds; round += 1) {
    if (round % 2 === 0) {
      await runBaseline();
      await runOurs(round);
    } else {
      await runOurs(round);
      await runBaseline();
    }
  }

  const oursSummary = summariseRounds(ours);
  const baselineSummary = summariseRounds(baseline);
  const measurements: Measurement[] = [
    { benchmark: 'ingest', metric: 'throughput', unit: 'msg/s', ours: oursSummary.perSecond, baseline: baselineSummary.perSecond },
    { benchmark: 'ingest', metric: 'p50 per message', unit: 'ms', ours: oursSummary.p50Ms, baseline: baselineSummary.p50Ms },
    { benchmark: 'ingest', metric: 'p95 per message', unit: 'ms', ours: oursSummary.p95Ms, baseline: baselineSummary.p95Ms },
  ];

  console.log(sectionTable('ingestRawMessage', 'INSERT bytea', measurements));
  console.log(roundsLine('ingestRawMessage', ours, 'INSERT bytea', baseline));
  console.log(
    `ingest outcomes over all rounds: stored ${counts.stored}, duplicate ${counts.duplicate}, ` +
      `already stored ${counts['already-stored']}, stored with a parse error ${counts.parseFailed}`,
  );
  return measurements;
}
