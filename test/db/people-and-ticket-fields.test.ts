import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { allowQueueAgent, disallowQueueAgent, listAgentQueueIds, listQueueAgentIds, mayUseQueue } from '../../src/db/queue-agents.js';
import { createUser } from '../../src/db/users.js';
import { startTestDatabase, type TestDatabase } from '../support/environment.js';
import { undoMigrationsFrom } from '../support/migrations.js';

describe('roles, queue agents and ticket fields', () => {
  let database: TestDatabase;
  let queueId: number;

  before(async () => {
    database = await startTestDatabase();
    const [queue] = await database.db('queues')
      .insert({ number: 7, title: 'Sales', poll_interval_seconds: 60, max_message_bytes: 1_000_000, incoming: {} })
      .returning<Array<{ id: number }>>('id');
    queueId = queue.id;
  });
  after(async () => {
    await database?.stop();
  });

  test('new user is an active agent', async () => {
    const user = await createUser(database.db, { alias: 'ana', email: 'ana@example.com' });
    const row = await database.db('users').where({ id: user.id }).first('role', 'active');
    assert.deepEqual(row, { role: 'agent', active: true });
  });

  test('unknown role is refused', async () => {
    await assert.rejects(database.db('users').insert({ alias: 'bad', email: 'bad@example.com', role: 'owner' }), /users_role_check/);
  });

  test('queue agent granted once', async () => {
    const user = await createUser(database.db, { alias: 'ben', email: 'ben@example.com' });
    await allowQueueAgent(database.db, queueId, user.id);
    await allowQueueAgent(database.db, queueId, user.id);
    assert.deepEqual(await listQueueAgentIds(database.db, queueId), [user.id]);
    assert.deepEqual(await listAgentQueueIds(database.db, user.id), [queueId]);
    assert.equal(await mayUseQueue(database.db, queueId, user.id), true);
    assert.equal(await disallowQueueAgent(database.db, queueId, user.id), true);
    assert.equal(await disallowQueueAgent(database.db, queueId, user.id), false);
    assert.equal(await mayUseQueue(database.db, queueId, user.id), false);
  });

  test('ticket starts normal priority', async () => {
    const [ticket] = await database.db('tickets')
      .insert({ number: 100001, queue_id: queueId, title: 'Hello' })
      .returning<Array<{ priority: string; extra_statuses: string[]; stage: string | null }>>(['priority', 'extra_statuses', 'stage']);
    assert.deepEqual(ticket, { priority: 'normal', extra_statuses: [], stage: null });
  });

  test('unknown priority is refused', async () => {
    await assert.rejects(database.db('tickets').insert({ number: 100002, queue_id: queueId, title: 'Hi', priority: 'asap' }), /tickets_priority_check/);
  });

  test('status list starts with new', async () => {
    const names = (await database.db('statuses').orderBy('id').select('name')).map((row: { name: string }) => row.name);
    assert.equal(names[0], 'new');
  });

  test('migration rolls back cleanly', async () => {
    await undoMigrationsFrom(database.db, '003-people-and-ticket-fields');
    const hasColumn = await database.db.schema.hasColumn('tickets', 'priority');
    assert.equal(hasColumn, false);
    await database.db.migrate.latest();
    assert.equal(await database.db.schema.hasColumn('tickets', 'priority'), true);
  });
});
