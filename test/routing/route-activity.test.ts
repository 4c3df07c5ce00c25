import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { routePendingMessages } from '../../src/activities/route.js';
import { createRoutingRule } from '../../src/db/routing-rules.js';
import { createUser } from '../../src/db/users.js';
import { startTestDatabase, testLogger, type TestDatabase } from '../support/environment.js';

describe('routePendingMessages', () => {
  let database: TestDatabase;
  let queueId: number;
  let ticketId: number;
  let sequence = 0;

  /** Inserts a stored incoming message on the ticket; returns its row id. */
  const insertMessage = async (fields: { state?: string; threadRule?: string | null; subject: string; ticket?: number | null }): Promise<number> => {
    sequence += 1;
    const [row] = await database.db('messages')
      .insert({
        queue_id: queueId,
        ticket_id: fields.ticket === undefined ? ticketId : fields.ticket,
        direction: 'incoming',
        source_key: `test:${sequence}`,
        message_id: `route-${sequence}@example.org`,
        content_hash: `hash-${sequence}`,
        from: JSON.stringify([{ name: 'Anna', address: 'anna@example.org' }]),
        subject: fields.subject,
        text: 'Body text',
        headers: JSON.stringify([['x-tier', 'gold']]),
        raw: Buffer.from('raw'),
        raw_size: 3,
        state: fields.state ?? 'threaded',
        thread_rule: fields.threadRule === undefined ? 'new' : fields.threadRule,
      })
      .returning<Array<{ id: number }>>('id');
    return row.id;
  };

  const routedAt = async (id: number): Promise<Date | null> => ((await database.db('messages').where({ id }).first('routed_at')) as { routed_at: Date | null }).routed_at;

  before(async () => {
    database = await startTestDatabase();
    const [queue] = await database.db('queues')
      .insert({ number: 5, title: 'Support', category: 'Support', poll_interval_seconds: 60, max_message_bytes: 1_000_000, incoming: {} })
      .returning<Array<{ id: number }>>('id');
    queueId = queue.id;
    const [ticket] = await database.db('tickets')
      .insert({ number: 100001, queue_id: queueId, title: 'Hello', category: 'Support', custom_fields: JSON.stringify({ source: 'mail' }), extra_statuses: JSON.stringify(['vip']) })
      .returning<Array<{ id: number }>>('id');
    ticketId = ticket.id;
    await database.db('statuses').insert([{ name: 'vip' }, { name: 'escalated' }]);
    const owner = await createUser(database.db, { alias: 'olga', email: 'olga@example.com' });

    await createRoutingRule(database.db, {
      name: 'Gold customers',
      runOnReplies: true,
      conditions: [{ field: 'header', header: 'X-Tier', operator: 'equals', value: 'GOLD' }],
      actions: [
        { type: 'setOwner', owner: 'olga' },
        { type: 'setCustomField', field: 'tier', value: 'gold' },
        { type: 'addStatuses', statuses: ['vip', 'escalated'] },
      ],
    });
    // The owner leaves after the rule was saved; the rule's other actions still apply.
    await database.db('users').where({ id: owner.id }).update({ active: false });
  });
  after(async () => {
    await database?.stop();
  });

  test('held and bounce messages run no rule', async () => {
    const held = await insertMessage({ state: 'held', threadRule: null, subject: 'held', ticket: null });
    const bounce = await insertMessage({ threadRule: 'bounce', subject: 'Undelivered Mail' });
    const result = await routePendingMessages(database.db, queueId, null, testLogger);

    assert.deepEqual(result, { routed: 1, matched: 0, more: false });
    assert.equal(await routedAt(held), null);
    assert.notEqual(await routedAt(bounce), null);
    assert.equal(await database.db('ticket_events').where({ kind: 'routing' }).count<{ count: string }>('id as count').first().then((row) => Number(row?.count)), 0);
  });

  test('an inactive owner is skipped, the rest applies', async () => {
    const reply = await insertMessage({ threadRule: 'in-reply-to', subject: 'Re: Hello' });
    const result = await routePendingMessages(database.db, queueId, null, testLogger);
    assert.deepEqual(result, { routed: 1, matched: 1, more: false });

    const ticket: { owner_user_id: number | null; custom_fields: Record<string, string>; extra_statuses: string[] } = await database.db('tickets')
      .where({ id: ticketId })
      .first('owner_user_id', 'custom_fields', 'extra_statuses');
    assert.equal(ticket.owner_user_id, null);
    assert.deepEqual(ticket.custom_fields, { source: 'mail', tier: 'gold' });
    assert.deepEqual(ticket.extra_statuses, ['vip', 'escalated']);

    const event: { message_row_id: number; data: { changes: Record<string, unknown>; skipped: string[] } } = await database.db('ticket_events').where({ kind: 'routing' }).first('message_row_id', 'data');
    assert.equal(event.message_row_id, reply);
    assert.deepEqual(event.data.changes, { customFields: { tier: 'gold' }, addStatuses: ['escalated'] });
    assert.deepEqual(event.data.skipped, ['owner "olga" not found among active users']);
  });
});
