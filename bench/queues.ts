/**
 * Throwaway queues for the database benchmarks: each round gets its own queue so that its
 * messages are new rows (storage deduplicates by Message-ID and content within a queue).
 */
import type { Knex } from 'knex';
import { createQueue, type QueueRecord } from '../src/db/queues.js';

/** First queue number the benchmarks use. A fresh benchmark database has no queues. */
const firstBenchQueueNumber = 9000;

let nextNumber = firstBenchQueueNumber;

/**
 * Creates an active queue whose IMAP settings point at a loopback port that is never
 * contacted: the benchmarks call activities directly, without a workflow.
 */
export async function createBenchQueue(db: Knex, secretKey: Buffer, purpose: string): Promise<QueueRecord> {
  const number = nextNumber;
  nextNumber += 1;

  return createQueue(db, secretKey, {
    number,
    title: `bench ${purpose} ${number}`,
    description: 'created by npm run bench',
    active: true,
    category: null,
    pollIntervalSeconds: 3600,
    maxMessageBytes: 26_214_400,
    incoming: {
      protocol: 'imap',
      host: '127.0.0.1',
      port: 143,
      user: `bench-${number}@desk.example.com`,
      password: `bench-unused-${number}`,
      ssl: false,
      sslTrusted: false,
      dontKeepEmails: false,
      folder: 'INBOX',
    },
  });
}
