import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Knex } from 'knex';
import type pg from 'pg';

import { findVisibleTicket, listVisibleTickets, type TicketListOptions } from '../../src/db/ticket-access.js';
import { createUser, grantCategory, type UserRecord } from '../../src/db/users.js';
import { createView, shareView } from '../../src/db/views.js';
import { startTestDatabase, type TestDatabase } from '../support/environment.js';

const TICKETS = 20_000;
const CATEGORIES = 40;

/**
 * Runs a ticket listing and returns the plan PostgreSQL chose for its main statement,
 * the one with the window count, by capturing the SQL knex sent.
 */
async function planOf(db: Knex, user: UserRecord, options: TicketListOptions): Promise<string> {
  const statements: Array<{ sql: string; bindings: readonly unknown[] }> = [];
  const listener = (query: { sql: string; bindings?: readonly unknown[] }) => statements.push({ sql: query.sql, bindings: query.bindings ?? [] });
  db.on('query', listener);
  try {
    await listVisibleTickets(db, user, options);
  } finally {
    db.off('query', listener);
  }

  const listing = statements.find((statement) => statement.sql.includes('count(*) OVER ()'));
  assert.ok(listing, `no listing statement among ${statements.length} statements`);
  // The captured SQL has PostgreSQL's $n placeholders, so it goes to a pg connection as it is.
  const connection = (await db.client.acquireConnection()) as pg.PoolClient;
  try {
    const result = await connection.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${listing.sql}`, [...listing.bindings]);
    return result.rows.map((row) => row['QUERY PLAN']).join('\n');
  } finally {
    await db.client.releaseConnection(connection);
  }
}

function assertTicketsByIndex(plan: string): void {
  assert.doesNotMatch(plan, /Seq Scan on tickets/, plan);
  assert.match(plan, /Index (Only )?Scan (Backward )?using \S+ on tickets|Bitmap Index Scan on tickets_/, plan);
}

describe('ticket listing plans', () => {
  let database: TestDatabase;
  let agent: UserRecord;
  let admin: UserRecord;
  let viewId: number;

  before(async () => {
    database = await startTestDatabase();
    const db = database.db;
    const [queue] = await db('queues')
      .insert({ number: 1, title: 'Sales', poll_interval_seconds: 60, max_message_bytes: 1_000_000, incoming: {} })
      .returning<Array<{ id: number }>>('id');
    await db.raw(`INSERT INTO categories (name) SELECT 'Category ' || i FROM generate_series(0, ?) AS i`, [CATEGORIES - 1]);

    agent = await createUser(db, { alias: 'agent', email: 'agent@example.com' });
    admin = await createUser(db, { alias: 'admin', email: 'admin@example.com', role: 'admin' });
    await grantCategory(db, agent.id, 'Category 3');
    await grantCategory(db, admin.id, 'Category 5');

    // Every 97th ticket has no category; statuses vary independently of categories.
    await db.raw(
      `INSERT INTO tickets (number, queue_id, title, category, status, priority, owner_user_id, custom_fields, created_at, updated_at, last_activity_at)
       SELECT i, ?::bigint, 'Ticket ' || i,
              CASE WHEN i % 97 = 0 THEN NULL ELSE 'Category ' || (i % ?::int) END,
              (ARRAY['new', 'open', 'pending', 'solved', 'closed'])[1 + (i / ?::int) % 5],
              (ARRAY['low', 'normal', 'high', 'urgent'])[1 + i % 4],
              CASE WHEN i % 3 = 0 THEN ?::bigint END,
              jsonb_build_object('country', (ARRAY['UK', 'FR', 'DE', 'ES', 'IT', 'NL', 'PL'])[1 + i % 7]),
              now() - make_interval(mins => i), now() - make_interval(mins => i), now() - make_interval(mins => i)
       FROM generate_series(1, ?::int) AS i`,
      [queue.id, CATEGORIES, CATEGORIES, agent.id, TICKETS],
    );
    await db.raw('ANALYZE');

    const view = await createView(db, { name: 'New leads', ownerUserId: admin.id, definition: { filters: { statuses: ['new'], owners: ['me', 'none'] }, order: [{ field: 'lastActivityAt', direction: 'desc' }] } });
    viewId = view.id;
    await shareView(db, viewId, { role: 'agent' });
  });
  after(async () => {
    await database?.stop();
  });

  test('table holds the generated tickets', async () => {
    const row = await database.db('tickets').count<Array<{ count: string }>>('* as count').first();
    assert.equal(Number(row?.count), TICKETS);
  });

  test('category restriction uses an index', async () => {
    assertTicketsByIndex(await planOf(database.db, agent, {}));
  });

  test('view with status and owner filters uses an index', async () => {
    const plan = await planOf(database.db, agent, { viewId });
    assertTicketsByIndex(plan);
    assert.match(plan, /Index Cond: \(\(category = 'Category 3'::text\) AND \(status = 'new'::text\)\)/, plan);
    const { total } = await listVisibleTickets(database.db, agent, { viewId });
    assert.ok(total > 0, 'the view matched no ticket');
    assert.ok(total < TICKETS / CATEGORIES, `view total ${total} is not a subset of one category`);
  });

  test('custom field filter uses an index', async () => {
    assertTicketsByIndex(await planOf(database.db, agent, { filters: { customFields: { country: 'UK' } } }));
  });

  test('admin restriction with uncategorised tickets uses an index', async () => {
    assertTicketsByIndex(await planOf(database.db, admin, { filters: { statuses: ['open'] } }));
  });

  test('agent activity ticket uses an index', async () => {
    const db = database.db;
    // Ticket 97 has no category, so only the activity lets the agent see it.
    const ticket: { id: number; queue_id: number } = await db('tickets').where({ number: 97 }).first('id', 'queue_id');
    await db('email_activities').insert({ queue_id: ticket.queue_id, ticket_id: ticket.id, state: 'open', agent_user_id: agent.id, assigned_at: db.fn.now() });

    const plan = await planOf(db, agent, {});
    assertTicketsByIndex(plan);
    assert.match(plan, /Bitmap Index Scan on tickets_pkey/, plan);
    assert.equal((await findVisibleTicket(db, agent, 97))?.number, 97);
  });
});
