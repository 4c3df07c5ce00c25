import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Logger } from 'pino';

import { fetchNewMail, type FetchDependencies } from '../../src/activities/fetch.js';
import { openMailSource } from '../../src/activities/mail-sources.js';
import { validateQueueConfig } from '../../src/domain/queue-config.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { connectImap } from '../../src/mail/imap.js';
import type { ImapConnectionSettings } from '../../src/mail/incoming.js';
import type { MailSource } from '../../src/mail/mail-source.js';
import { createPop3Source } from '../../src/mail/pop3.js';
import { loadPop3Connection } from '../../src/db/queues.js';
import { newSecretKey, startTestDatabase, startTestDovecot, testLogger, type TestDatabase, type TestMailServer } from '../support/environment.js';
import { appendMessages } from '../support/imap-admin.js';

// One mail delivered to two mailboxes: same Message-ID and content below the delivery headers.
const duplicateCase = join(process.cwd(), '..', 'shared', 'cases', 'C09');

function message(id: string): Buffer {
  return Buffer.from(`From: customer@example.net\r\nTo: desk@example.com\r\nSubject: Question ${id}\r\nMessage-ID: <${id}@example.net>\r\n\r\nBody of ${id}\r\n`);
}

describe('POP3 fetch activity', () => {
  let database: TestDatabase;
  let server: TestMailServer;
  const secretKey = newSecretKey();
  let number = 0;

  before(async () => {
    database = await startTestDatabase();
    server = await startTestDovecot(
      ['keep', 'delete', 'crash', 'limit'].map((name) => ({ user: `${name}@example.com`, password: `${name}-pw` })),
      { pop3: true },
    );
  });

  after(async () => {
    await server?.stop();
    await database?.stop();
  });

  const imapOf = (user: string): ImapConnectionSettings => ({ host: server.dovecot.host, port: server.dovecot.imapPort, user, password: `${user.split('@')[0]}-pw`, ssl: false, sslTrusted: false });

  async function pop3Queue(user: string, dontKeepEmails: boolean): Promise<QueueRecord> {
    number += 1;
    const { config, errors } = validateQueueConfig({
      number,
      title: `POP3 ${user}`,
      incoming: { protocol: 'pop3', host: server.dovecot.host, port: server.dovecot.pop3Port, user, password: `${user.split('@')[0]}-pw`, ssl: false, dontKeepEmails },
    });
    assert.deepEqual(errors, []);
    assert.ok(config);
    return createQueue(database.db, secretKey, config);
  }

  /** Dependencies whose source counts downloads, and optionally wraps the source to simulate a crash. */
  function dependencies(options: { downloads?: string[]; wrap?: (source: MailSource & { abandon(): void }) => MailSource; maxMessages?: number } = {}): FetchDependencies {
    return {
      db: database.db,
      secretKey: () => secretKey,
      connectImap,
      logger: testLogger,
      limits: { maxMessages: options.maxMessages ?? 50, maxBytes: 50 * 1024 * 1024 },
      openMailSource: async (queue: QueueRecord, log: Logger) => {
        const source = createPop3Source(await loadPop3Connection(database.db, secretKey, queue), log);
        const counting: MailSource & { abandon(): void } = {
          ...source,
          protocol: source.protocol,
          download: async (ref) => {
            options.downloads?.push(ref.key);
            return source.download(ref);
          },
        };
        return options.wrap ? options.wrap(counting) : counting;
      },
    };
  }

  async function serverCount(user: string): Promise<number> {
    const source = createPop3Source({ host: server.dovecot.host, port: server.dovecot.pop3Port ?? 0, user, password: `${user.split('@')[0]}-pw`, ssl: false, sslTrusted: false }, testLogger);
    try {
      return (await source.listNew(null, 1000)).refs.length;
    } finally {
      await source.close();
    }
  }

  async function storedRows(queueId: number): Promise<number> {
    const row = await database.db('messages').where({ queue_id: queueId }).count<{ count: string }>('id as count').first();
    return Number(row?.count);
  }

  test('stores new mail and skips stored UIDLs without download', async () => {
    const queue = await pop3Queue('keep@example.com', false);
    await appendMessages(imapOf('keep@example.com'), 'INBOX', [await readFile(join(duplicateCase, '1.eml')), await readFile(join(duplicateCase, '2.eml')), message('keep-3')]);

    const first = await fetchNewMail(dependencies(), queue.id);
    assert.equal(first.stored, 2);
    assert.equal(first.duplicates, 1);
    assert.equal(first.more, false);

    const downloads: string[] = [];
    const second = await fetchNewMail(dependencies({ downloads }), queue.id);
    assert.equal(second.stored, 0);
    assert.equal(second.skippedKnown, 3);
    assert.deepEqual(downloads, []);
    assert.equal(await storedRows(queue.id), 2);
    assert.equal(await serverCount('keep@example.com'), 3);
  });

  test('dontKeepEmails deletes only stored messages', async () => {
    const queue = await pop3Queue('limit@example.com', true);
    await appendMessages(imapOf('limit@example.com'), 'INBOX', [message('limit-1'), message('limit-2'), message('limit-3')]);

    const first = await fetchNewMail(dependencies({ maxMessages: 2 }), queue.id);
    assert.equal(first.stored, 2);
    assert.equal(first.deletedFromServer, 2);
    assert.equal(first.more, true);
    assert.equal(await serverCount('limit@example.com'), 1);

    const second = await fetchNewMail(dependencies({ maxMessages: 2 }), queue.id);
    assert.equal(second.stored, 1);
    assert.equal(second.deletedFromServer, 1);
    assert.equal(await serverCount('limit@example.com'), 0);
    assert.equal(await storedRows(queue.id), 3);
  });

  test('dontKeepEmails deletes duplicates once stored', async () => {
    const queue = await pop3Queue('delete@example.com', true);
    await appendMessages(imapOf('delete@example.com'), 'INBOX', [await readFile(join(duplicateCase, '1.eml')), await readFile(join(duplicateCase, '2.eml'))]);

    const result = await fetchNewMail(dependencies(), queue.id);

    assert.equal(result.stored, 1);
    assert.equal(result.duplicates, 1);
    assert.equal(result.deletedFromServer, 2);
    assert.equal(await serverCount('delete@example.com'), 0);
  });

  test('crash before QUIT loses and doubles nothing', async () => {
    const queue = await pop3Queue('crash@example.com', true);
    await appendMessages(imapOf('crash@example.com'), 'INBOX', [message('crash-1'), message('crash-2')]);

    // The worker dies after DELE and before QUIT: the session ends without committing deletions.
    const crashing = dependencies({
      wrap: (source) => ({
        ...source,
        protocol: source.protocol,
        remove: async (keys) => {
          await source.remove(keys);
          source.abandon();
          throw new Error('simulated worker crash after DELE');
        },
        close: async () => source.abandon(),
      }),
    });
    await assert.rejects(fetchNewMail(crashing, queue.id), /simulated worker crash/);
    assert.equal(await storedRows(queue.id), 2);
    assert.equal(await serverCount('crash@example.com'), 2);

    const downloads: string[] = [];
    const retry = await fetchNewMail(dependencies({ downloads }), queue.id);

    assert.equal(retry.stored, 0);
    assert.equal(retry.skippedKnown, 2);
    assert.equal(retry.deletedFromServer, 2);
    assert.deepEqual(downloads, []);
    assert.equal(await storedRows(queue.id), 2);
    assert.equal(await serverCount('crash@example.com'), 0);
  });

  test('default source factory opens POP3', async () => {
    const queue = await pop3Queue('keep@example.com', false);
    const source = await openMailSource({ db: database.db, secretKey, logger: testLogger }, queue);
    try {
      assert.equal(source.protocol, 'pop3');
      assert.equal((await source.listNew(null, 10)).refs.length, 3);
    } finally {
      await source.close();
    }
  });
});
