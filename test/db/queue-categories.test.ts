import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createCategory, listCategories } from '../../src/db/categories.js';
import { createQueue, updateQueue } from '../../src/db/queues.js';
import { grantCategory, createUser } from '../../src/db/users.js';
import { validateQueueConfig, type QueueConfig } from '../../src/domain/queue-config.js';
import { newSecretKey, startTestDatabase, type TestDatabase } from '../support/environment.js';

/** Validates a queue document the way `mailqueue queue create --file` does. */
function queueConfig(number: number, category: string | null): QueueConfig {
  const result = validateQueueConfig({
    number,
    title: `Queue ${number}`,
    category,
    incoming: { host: '127.0.0.1', port: 1143, user: `support${number}@example.com`, password: 'imap-secret', ssl: false, sslTrusted: false },
  });
  assert.deepEqual(result.errors, []);
  assert.ok(result.config);
  return result.config;
}

async function categoryNames(database: TestDatabase): Promise<string[]> {
  return (await listCategories(database.db)).map((category) => category.name);
}

describe('queue categories', () => {
  let database: TestDatabase;
  const secretKey = newSecretKey();

  before(async () => {
    database = await startTestDatabase();
  });
  after(async () => {
    await database?.stop();
  });

  test('create adds a new category', async () => {
    const queue = await createQueue(database.db, secretKey, queueConfig(1, 'Demo'));
    assert.equal(queue.category, 'Demo');
    assert.ok((await categoryNames(database)).includes('Demo'));

    // A right on the queue's category can be granted right away.
    const agent = await createUser(database.db, { alias: 'demo-agent', email: 'demo-agent@example.com' });
    await grantCategory(database.db, agent.id, 'Demo');
  });

  test('other letter case uses existing name', async () => {
    await createCategory(database.db, { name: 'Billing' });
    const queue = await createQueue(database.db, secretKey, queueConfig(2, 'billing'));
    assert.equal(queue.category, 'Billing');
    const names = await categoryNames(database);
    assert.equal(names.filter((name) => name.toLowerCase() === 'billing').length, 1, names.join(', '));
  });

  test('update adds a new category', async () => {
    const queue = await updateQueue(database.db, secretKey, 2, queueConfig(2, 'Returns'));
    assert.equal(queue.category, 'Returns');
    assert.ok((await categoryNames(database)).includes('Returns'));
  });

  test('no category adds none', async () => {
    const before = await categoryNames(database);
    await createQueue(database.db, secretKey, queueConfig(3, null));
    assert.deepEqual(await categoryNames(database), before);
  });
});
