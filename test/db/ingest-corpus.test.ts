import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ingestRawMessage } from '../../src/activities/ingest.js';
import { threadPendingMessages } from '../../src/activities/thread.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { noSharedData, sharedRoot } from '../mail/shared-data.js';
import { newSecretKey, startTestDatabase, testLogger, type TestDatabase } from '../support/environment.js';

/** Paths of the corpus messages, relative to the corpus folder, from its manifest. */
function corpusPaths(root: string): string[] {
  return readFileSync(join(root, 'corpus', 'manifest.tsv'), 'utf8')
    .split('\n')
    .slice(1)
    .map((row) => row.split('\t')[0] ?? '')
    .filter((path) => path !== '');
}

/** States a message may end in without a ticket; each is listed by `mailqueue tickets held`. */
const visibleNonTicketStates = new Set(['held', 'own', 'duplicate']);

describe('corpus storage', { skip: sharedRoot === null ? noSharedData : false }, () => {
  const root = sharedRoot ?? '';
  const paths = sharedRoot === null ? [] : corpusPaths(root);
  let database: TestDatabase;
  const secretKey = newSecretKey();
  const rowIds = new Map<string, number>();
  const queues = new Map<string, QueueRecord>();

  // One queue per file: some corpus files are byte-identical copies of each other, and the
  // same mail twice in one queue is (rightly) a duplicate, not a second stored row.
  const queueFor = (path: string): Promise<QueueRecord> =>
    createQueue(database.db, secretKey, {
      title: `Corpus ${path}`.slice(0, 200),
      description: '',
      active: true,
      category: null,
      pollIntervalSeconds: 3600,
      maxMessageBytes: 26_214_400,
      incoming: { protocol: 'imap', host: '127.0.0.1', port: 143, user: 'corpus@example.com', password: 'unused-password', ssl: false, sslTrusted: true, dontKeepEmails: false, folder: 'INBOX' },
    });

  before(async () => {
    database = await startTestDatabase();
  });

  after(async () => {
    await database?.stop();
  });

  test('every file stores exactly once', async () => {
    assert.ok(paths.length > 0, 'the corpus manifest lists no messages');
    for (const path of paths) {
      const raw = readFileSync(join(root, 'corpus', path));
      const queue = await queueFor(path);
      queues.set(path, queue);
      const options = { queueId: queue.id, sourceKey: `corpus:${path}`, maxMessageBytes: queue.maxMessageBytes, imported: true };
      const first = await ingestRawMessage(database.db, raw, options, testLogger);
      const second = await ingestRawMessage(database.db, raw, options, testLogger);
      assert.equal(first.status, 'stored', `${path}: first ingest`);
      assert.equal(second.status, 'already-stored', `${path}: second ingest`);
      assert.equal(second.messageRowId, first.messageRowId, `${path}: second ingest points at another row`);
      rowIds.set(path, first.messageRowId);
    }
    const count = await database.db('messages').count<{ count: string }>('id as count').first();
    assert.equal(Number(count?.count), paths.length);
  });

  test('raw bytes stored byte-exact', async () => {
    assert.equal(rowIds.size, paths.length, 'the storing test did not store every file');
    for (const [path, rowId] of rowIds) {
      const row: { raw: Buffer } = await database.db('messages').where({ id: rowId }).first('raw');
      const original = readFileSync(join(root, 'corpus', path));
      assert.ok(Buffer.compare(row.raw, original) === 0, `${path}: stored raw differs from the file (${row.raw.length} vs ${original.length} bytes)`);
    }
  });

  test('every message threads or is visible', async () => {
    assert.equal(queues.size, paths.length, 'the storing test did not create every queue');
    for (const queue of queues.values()) {
      for (;;) {
        const result = await threadPendingMessages(database.db, queue.id, testLogger);
        if (!result.more) break;
      }
    }
    const rows: Array<{ id: number; state: string; ticket_id: number | null; state_reason: string | null }> = await database.db('messages').select('id', 'state', 'ticket_id', 'state_reason');
    assert.equal(rows.length, paths.length);
    const pathOf = new Map([...rowIds].map(([path, id]) => [id, path]));
    for (const row of rows) {
      const label = pathOf.get(row.id) ?? `row ${row.id}`;
      if (row.state === 'threaded') {
        assert.notEqual(row.ticket_id, null, `${label}: threaded without a ticket`);
      } else {
        assert.ok(visibleNonTicketStates.has(row.state), `${label}: left in state ${row.state}`);
        assert.notEqual(row.state_reason, null, `${label}: state ${row.state} without a reason`);
      }
    }
  });
});
