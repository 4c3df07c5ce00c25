/**
 * Threading benchmark: threadPendingMessages over N stored pending messages (new
 * conversations and replies) against selecting the same N rows by id, one query each.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { threadPendingMessages } from '../src/activities/thread.js';
import { storeMessage } from '../src/db/messages.js';
import { contentHash } from '../src/mail/content-hash.js';
import { generateConversation } from './conversation.js';
import { createBenchQueue } from './queues.js';
import { roundsLine, sectionTable, type Measurement } from './report.js';
import { summariseRounds, type Round } from './stats.js';

export interface ThreadBenchOptions {
  rounds: number;
  /** Pending messages per round. */
  messages: number;
  /** Messages selected and threaded once, untimed, before the measured rounds. */
  warmupMessages: number;
}

/** Messages stored per setup transaction. */
const storeBatchSize = 100;

/** Fixed start of the generated Date headers, so every run stores the same bytes. */
const conversationStartMs = Date.UTC(2025, 0, 6, 9, 0, 0);

interface PreparedRound {
  queueId: number;
  rowIds: number[];
  expectedNewTickets: number;
}

/** Stores one round's conversation as pending rows in a fresh queue. Not timed. */
async function prepareRound(db: Knex, secretKey: Buffer, round: number, count: number): Promise<PreparedRound> {
  const queue = await createBenchQueue(db, secretKey, `thread round${round}`);
  const messages = generateConversation(count, `r${round}`, queue.incoming.user, conversationStartMs);
  const rowIds: number[] = [];

  for (let start = 0; start < messages.length; start += storeBatchSize) {
    const batch = messages.slice(start, start + storeBatchSize);
    await db.transaction(async (trx) => {
      for (const [offset, message] of batch.entries()) {
        const outcome = await storeMessage(trx, {
          queueId: queue.id,
          direction: 'incoming',
          sourceKey: `bench-thread-r${round}-${start + offset}`,
          raw: message.raw,
          contentHash: contentHash(message.raw),
          parsed: message.parsed,
          automation: { autoSubmitted: false, bounce: false, list: false, reasons: [] },
          imported: false,
        });
        rowIds.push(outcome.messageRowId);
      }
    });
  }

  return { queueId: queue.id, rowIds, expectedNewTickets: messages.filter((message) => message.startsThread).length };
}

/** Selects each row by primary key, one query per row: the read that threading does for each message. */
async function selectRound(db: Knex, rowIds: readonly number[]): Promise<Round> {
  const started = performance.now();
  let found = 0;
  for (const id of rowIds) {
    const row: unknown = await db('messages').where({ id }).first();
    if (row !== undefined) found += 1;
  }
  const totalMs = performance.now() - started;

  if (found !== rowIds.length) {
    throw new Error(`baseline found ${found} of ${rowIds.length} stored rows: the setup did not store every generated message`);
  }
  return { items: rowIds.length, totalMs, itemMs: [totalMs / rowIds.length] };
}

/**
 * Calls threadPendingMessages until the queue has nothing pending (it works in batches),
 * and checks that every conversation start became a ticket and every reply joined one,
 * so a fast but wrong threading pass cannot pass for a fast one.
 */
async function threadRound(db: Knex, prepared: PreparedRound, log: Logger): Promise<Round> {
  const maxCalls = Math.ceil(prepared.rowIds.length / 100) + 2;
  let newTickets = 0;
  let replies = 0;
  let calls = 0;
  let more = true;

  const started = performance.now();
  while (more && calls < maxCalls) {
    const result = await threadPendingMessages(db, prepared.queueId, log);
    newTickets += result.newTickets;
    replies += result.replies;
    more = result.more;
    calls += 1;
  }
  const totalMs = performance.now() - started;

  const expectedReplies = prepared.rowIds.length - prepared.expectedNewTickets;
  if (more || newTickets !== prepared.expectedNewTickets || replies !== expectedReplies) {
    throw new Error(
      `threading placed ${newTickets} new tickets and ${replies} replies after ${calls} calls (more pending: ${more}); ` +
        `expected ${prepared.expectedNewTickets} and ${expectedReplies}: check src/activities/thread.ts before trusting its speed`,
    );
  }
  return { items: prepared.rowIds.length, totalMs, itemMs: [totalMs / prepared.rowIds.length] };
}

/**
 * Runs the threading benchmark and prints its table. Each round stores a fresh queue's
 * messages (untimed), selects them by id, then threads them. Returns the measurements.
 */
export async function runThreadBench(db: Knex, secretKey: Buffer, options: ThreadBenchOptions, log: Logger): Promise<Measurement[]> {
  const ours: Round[] = [];
  const baseline: Round[] = [];
  console.log(`\n## threading: ${options.messages} pending messages per round, ${options.rounds} rounds per side`);

  const warmup = await prepareRound(db, secretKey, -1, options.warmupMessages);
  await selectRound(db, warmup.rowIds);
  await threadRound(db, warmup, log);

  for (let round = 0; round < options.rounds; round += 1) {
    const prepared = await prepareRound(db, secretKey, round, options.messages);
    baseline.push(await selectRound(db, prepared.rowIds));
    ours.push(await threadRound(db, prepared, log));
  }

  const measurements: Measurement[] = [
    { benchmark: 'threading', metric: 'throughput', unit: 'msg/s', ours: summariseRounds(ours).perSecond, baseline: summariseRounds(baseline).perSecond },
  ];
  console.log(sectionTable('threadPendingMessages', 'SELECT by id', measurements));
  console.log(roundsLine('threadPendingMessages', ours, 'SELECT by id', baseline));
  return measurements;
}
