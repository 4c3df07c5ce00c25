import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { findVisibleAttachment, findVisibleMessage, findVisibleTicket, isTicketVisible, listVisibleTickets, ViewNotFoundError } from '../../src/db/ticket-access.js';
import { createUser, deactivateUser, grantCategory, revokeCategory, updateUser, type UserRecord } from '../../src/db/users.js';
import { createView, deleteView, findViewForUser, listViewsForUser, shareView, unshareView, updateView } from '../../src/db/views.js';
import { parseViewFilters, parseViewOrder, type ViewFilters } from '../../src/domain/view-definition.js';
import { startTestDatabase, type TestDatabase } from '../support/environment.js';

interface TicketFields {
  queue?: number;
  category?: string | null;
  status?: string;
  stage?: string | null;
  priority?: string;
  owner?: number | null;
  customFields?: Record<string, unknown>;
  createdAt?: string;
  updatedAt?: string;
  /** Seconds before the database's now. */
  idleSeconds?: number;
}

describe('ticket access by category rights and views', () => {
  let database: TestDatabase;
  const queueIds = new Map<number, number>();
  const ticketIds = new Map<number, number>();
  let uk: UserRecord;
  let fr: UserRecord;
  let manager: UserRecord;
  let outsider: UserRecord;
  let lab: UserRecord;
  let leadsViewId: number;

  async function insertTicket(number: number, fields: TicketFields): Promise<void> {
    const [row] = await database.db('tickets')
      .insert({
        number,
        queue_id: queueIds.get(fields.queue ?? 7),
        title: `Ticket ${number}`,
        category: fields.category === undefined ? null : fields.category,
        status: fields.status ?? 'new',
        stage: fields.stage ?? null,
        priority: fields.priority ?? 'normal',
        owner_user_id: fields.owner ?? null,
        custom_fields: JSON.stringify(fields.customFields ?? {}),
        created_at: fields.createdAt ?? database.db.fn.now(),
        updated_at: fields.updatedAt ?? database.db.fn.now(),
        last_activity_at: database.db.raw('now() - make_interval(secs => ?)', [fields.idleSeconds ?? 0]),
      })
      .returning<Array<{ id: number }>>('id');
    ticketIds.set(number, row.id);
  }

  async function numbersSeenBy(user: UserRecord, options: Parameters<typeof listVisibleTickets>[2] = {}): Promise<number[]> {
    const { tickets } = await listVisibleTickets(database.db, user, { pageSize: 500, ...options });
    return tickets.map((ticket) => ticket.number).sort((a, b) => a - b);
  }

  function filters(document: unknown): ViewFilters {
    const parsed = parseViewFilters(document);
    assert.deepEqual(parsed.errors, []);
    return parsed.value as ViewFilters;
  }

  before(async () => {
    database = await startTestDatabase();
    const db = database.db;
    for (const number of [7, 8]) {
      const [queue] = await db('queues')
        .insert({ number, title: `Queue ${number}`, poll_interval_seconds: 60, max_message_bytes: 1_000_000, incoming: {} })
        .returning<Array<{ id: number }>>('id');
      queueIds.set(number, queue.id);
    }
    await db('categories').insert([{ name: 'UK Leads' }, { name: 'FR Leads' }, { name: 'Support' }, { name: 'Lab' }]);

    uk = await createUser(db, { alias: 'uk.sales', email: 'uk@example.com' });
    fr = await createUser(db, { alias: 'fr.sales', email: 'fr@example.com' });
    manager = await createUser(db, { alias: 'manager', email: 'manager@example.com' });
    outsider = await createUser(db, { alias: 'outsider', email: 'outsider@example.com', role: 'admin' });
    lab = await createUser(db, { alias: 'lab', email: 'lab@example.com' });
    await grantCategory(db, uk.id, 'UK Leads');
    await grantCategory(db, fr.id, 'FR Leads');
    await grantCategory(db, manager.id, 'UK Leads');
    await grantCategory(db, manager.id, 'FR Leads');
    await grantCategory(db, outsider.id, 'UK Leads');
    await grantCategory(db, lab.id, 'Lab');

    await insertTicket(1001, { category: 'UK Leads' });
    await insertTicket(1002, { category: 'UK Leads' });
    await insertTicket(1003, { category: 'UK Leads', status: 'open' });
    await insertTicket(1004, { category: 'FR Leads' });
    await insertTicket(1005, { category: 'FR Leads', status: 'pending' });
    await insertTicket(1006, { category: 'Support' });
    await insertTicket(1007, { category: null });

    await insertTicket(2001, { category: 'Lab', queue: 7, status: 'new', stage: 'qualified', priority: 'low', owner: uk.id, customFields: { country: 'UK', vip: true }, createdAt: '2026-01-01T10:00:00Z', updatedAt: '2026-01-02T00:00:00Z', idleSeconds: 10 * 86_400 });
    await insertTicket(2002, { category: 'Lab', queue: 8, status: 'open', priority: 'normal', owner: fr.id, customFields: { country: 'FR' }, createdAt: '2026-01-15T00:00:00Z', updatedAt: '2026-01-20T00:00:00Z', idleSeconds: 3600 });
    await insertTicket(2003, { category: 'Lab', queue: 7, status: 'pending', stage: 'lost', priority: 'high', customFields: { country: 'DE', score: 5 }, createdAt: '2026-02-01T00:00:00Z', updatedAt: '2026-02-10T00:00:00Z', idleSeconds: 2 * 86_400 });
    await insertTicket(2004, { category: 'Lab', queue: 8, status: 'new', stage: 'qualified', priority: 'urgent', owner: lab.id, createdAt: '2026-03-01T00:00:00Z', updatedAt: '2026-03-02T00:00:00Z', idleSeconds: 60 });

    const leads = await createView(db, { name: 'Leads', ownerUserId: manager.id, definition: { filters: { statuses: ['new'] }, order: [{ field: 'number' }] } });
    leadsViewId = leads.id;
    await shareView(db, leadsViewId, { role: 'agent' });
  });
  after(async () => {
    await database?.stop();
  });

  describe('the Leads view', () => {
    test('UK agent sees only UK leads', async () => {
      assert.deepEqual(await numbersSeenBy(uk, { viewId: leadsViewId }), [1001, 1002]);
    });

    test('French agent sees only French leads', async () => {
      assert.deepEqual(await numbersSeenBy(fr, { viewId: leadsViewId }), [1004]);
    });

    test('manager sees both countries', async () => {
      assert.deepEqual(await numbersSeenBy(manager, { viewId: leadsViewId }), [1001, 1002, 1004]);
    });

    test('admin without the share cannot open it', async () => {
      assert.equal(await findViewForUser(database.db, outsider, leadsViewId), null);
      assert.equal((await listViewsForUser(database.db, outsider)).length, 0);
      await assert.rejects(listVisibleTickets(database.db, outsider, { viewId: leadsViewId }), ViewNotFoundError);
    });

    test('missing view looks like a forbidden one', async () => {
      await assert.rejects(listVisibleTickets(database.db, uk, { viewId: 999_999 }), (error: unknown) => error instanceof ViewNotFoundError && /View 999999 does not exist or is not shared with you/.test(error.message));
    });

    test('agents list the shared view', async () => {
      const listed = await listViewsForUser(database.db, uk);
      assert.deepEqual(listed.map((view) => [view.name, view.ownerAlias, view.shares.map((share) => share.role)]), [['Leads', 'manager', ['agent']]]);
    });
  });

  describe('all tickets', () => {
    test('agent sees every status of their categories', async () => {
      assert.deepEqual(await numbersSeenBy(uk), [1001, 1002, 1003]);
    });

    test('uncategorised ticket is seen by admins only', async () => {
      assert.deepEqual(await numbersSeenBy(outsider), [1001, 1002, 1003, 1007]);
      assert.ok(!(await numbersSeenBy(manager)).includes(1007));
    });

    test('activity agent sees uncategorised ticket', async () => {
      const db = database.db;
      const worker = await createUser(db, { alias: 'activity.worker', email: 'activity.worker@example.com' });
      const [open, other] = await db('email_activities')
        .insert([
          { queue_id: queueIds.get(7), ticket_id: ticketIds.get(1007), state: 'open', agent_user_id: worker.id, assigned_at: db.fn.now() },
          { queue_id: queueIds.get(7), ticket_id: ticketIds.get(1006), state: 'open', agent_user_id: worker.id, assigned_at: db.fn.now() },
        ])
        .returning<Array<{ id: number }>>('id');

      // A category still needs its right, even with an activity on the ticket.
      assert.deepEqual(await numbersSeenBy(worker), [1007]);
      assert.equal((await findVisibleTicket(db, worker, 1007))?.number, 1007);
      assert.equal(await findVisibleTicket(db, worker, 1006), null);
      assert.equal(await isTicketVisible(db, manager, ticketIds.get(1007) ?? 0), false);

      await db('email_activities').whereIn('id', [open.id, other.id]).update({ state: 'closed', closed_at: db.fn.now() });
      assert.deepEqual(await numbersSeenBy(worker), []);
    });

    test('user without rights sees nothing', async () => {
      const nobody = await createUser(database.db, { alias: 'nobody', email: 'nobody@example.com' });
      assert.deepEqual(await listVisibleTickets(database.db, nobody), { tickets: [], total: 0 });
    });

    test('listed ticket carries queue and owner', async () => {
      const { tickets } = await listVisibleTickets(database.db, lab, { filters: filters({ owners: ['uk.sales'] }) });
      assert.equal(tickets.length, 1);
      assert.deepEqual(
        { number: tickets[0].number, queueNumber: tickets[0].queueNumber, ownerAlias: tickets[0].ownerAlias, stage: tickets[0].stage, customFields: tickets[0].customFields },
        { number: 2001, queueNumber: 7, ownerAlias: 'uk.sales', stage: 'qualified', customFields: { country: 'UK', vip: true } },
      );
    });
  });

  describe('filters', () => {
    const cases: Array<[description: string, document: unknown, expected: number[]]> = [
      ['category', { categories: ['Lab'] }, [2001, 2002, 2003, 2004]],
      ['category without rights', { categories: ['UK Leads'] }, []],
      ['status', { statuses: ['new'] }, [2001, 2004]],
      ['stage', { stages: ['qualified'] }, [2001, 2004]],
      ['priority', { priorities: ['high', 'urgent'] }, [2003, 2004]],
      ['owner me', { owners: ['me'] }, [2004]],
      ['owner none', { owners: ['none'] }, [2003]],
      ['owner alias or none', { owners: ['UK.Sales', 'none'] }, [2001, 2003]],
      ['queue', { queues: [8] }, [2002, 2004]],
      ['custom field value', { customFields: { country: 'UK' } }, [2001]],
      ['custom field any of', { customFields: { country: ['FR', 'DE'] } }, [2002, 2003]],
      ['custom field boolean', { customFields: { vip: true } }, [2001]],
      ['custom field number', { customFields: { score: 5 } }, [2003]],
      ['custom field number given as text', { customFields: { score: '5' } }, []],
      ['idle at least a day', { idleForAtLeastSeconds: 86_400 }, [2001, 2003]],
      ['idle at most two hours', { idleForAtMostSeconds: 7200 }, [2002, 2004]],
      ['idle between', { idleForAtLeastSeconds: 1800, idleForAtMostSeconds: 3 * 86_400 }, [2002, 2003]],
      ['created from includes its start', { createdFrom: '2026-01-15T00:00:00Z' }, [2002, 2003, 2004]],
      ['created from with an offset', { createdFrom: '2026-01-15T01:00:00+01:00' }, [2002, 2003, 2004]],
      ['created to excludes its end', { createdTo: '2026-01-15T00:00:00Z' }, [2001]],
      ['updated range', { updatedFrom: '2026-02-01T00:00:00Z', updatedTo: '2026-03-01T00:00:00Z' }, [2003]],
      ['status and priority together', { statuses: ['new'], priorities: ['urgent'] }, [2004]],
    ];
    for (const [description, document, expected] of cases) {
      test(`filters by ${description}`, async () => {
        assert.deepEqual(await numbersSeenBy(lab, { filters: filters(document) }), expected);
      });
    }

    test('view filter and request filter both apply', async () => {
      const view = await createView(database.db, { name: 'Mine new', ownerUserId: lab.id, definition: { filters: { owners: ['me', 'uk.sales'] } } });
      assert.deepEqual(await numbersSeenBy(lab, { viewId: view.id }), [2001, 2004]);
      assert.deepEqual(await numbersSeenBy(lab, { viewId: view.id, filters: filters({ priorities: ['low'] }) }), [2001]);
    });

    test('owner me in a shared view means the viewer', async () => {
      const view = await createView(database.db, { name: 'My tickets', ownerUserId: lab.id, definition: { filters: { owners: ['me'] } } });
      await shareView(database.db, view.id, { userId: uk.id });
      await grantCategory(database.db, uk.id, 'Lab');
      try {
        assert.deepEqual(await numbersSeenBy(uk, { viewId: view.id }), [2001]);
        assert.deepEqual(await numbersSeenBy(lab, { viewId: view.id }), [2004]);
      } finally {
        await revokeCategory(database.db, uk.id, 'Lab');
      }
    });
  });

  describe('paging and ordering', () => {
    const order = (document: unknown) => {
      const parsed = parseViewOrder(document);
      assert.deepEqual(parsed.errors, []);
      return parsed.value ?? [];
    };
    const numbers = async (options: Parameters<typeof listVisibleTickets>[2]) => (await listVisibleTickets(database.db, lab, options)).tickets.map((ticket) => ticket.number);

    test('pages split the list with the full total', async () => {
      const sort = order([{ field: 'number' }]);
      assert.deepEqual(await listVisibleTickets(database.db, lab, { sort, pageSize: 3 }).then((page) => [page.tickets.map((t) => t.number), page.total]), [[2001, 2002, 2003], 4]);
      assert.deepEqual(await listVisibleTickets(database.db, lab, { sort, pageSize: 3, page: 2 }).then((page) => [page.tickets.map((t) => t.number), page.total]), [[2004], 4]);
    });

    test('page past the end is empty but counts', async () => {
      assert.deepEqual(await listVisibleTickets(database.db, lab, { pageSize: 3, page: 3 }), { tickets: [], total: 4 });
    });

    test('default order is latest activity first', async () => {
      assert.deepEqual(await numbers({}), [2004, 2002, 2003, 2001]);
    });

    test('priority sorts by urgency, not alphabet', async () => {
      assert.deepEqual(await numbers({ sort: order([{ field: 'priority', direction: 'desc' }]) }), [2004, 2003, 2002, 2001]);
    });

    test('second order field breaks ties', async () => {
      assert.deepEqual(await numbers({ sort: order([{ field: 'status' }, { field: 'number', direction: 'desc' }]) }), [2004, 2001, 2002, 2003]);
    });

    test('equal values keep id order', async () => {
      assert.deepEqual(await numbers({ sort: order([{ field: 'category', direction: 'desc' }]) }), [2001, 2002, 2003, 2004]);
    });

    test('view order applies unless the request sorts', async () => {
      const view = await createView(database.db, { name: 'Oldest created', ownerUserId: lab.id, definition: { order: [{ field: 'createdAt' }] } });
      assert.deepEqual(await numbers({ viewId: view.id }), [2001, 2002, 2003, 2004]);
      assert.deepEqual(await numbers({ viewId: view.id, sort: order([{ field: 'updatedAt', direction: 'desc' }]) }), [2004, 2003, 2002, 2001]);
    });

    test('uncategorised tickets sort last by category', async () => {
      const { tickets } = await listVisibleTickets(database.db, outsider, { sort: order([{ field: 'category' }]) });
      assert.equal(tickets.at(-1)?.number, 1007);
    });

    test('invalid page size is rejected', async () => {
      await assert.rejects(listVisibleTickets(database.db, lab, { pageSize: 0 }), /Page size 0 is invalid: use a whole number from 1 to 500/);
      await assert.rejects(listVisibleTickets(database.db, lab, { page: 1.5 }), /Page 1.5 is invalid/);
    });
  });

  describe('rights changes', () => {
    test('revoked category disappears at once', async () => {
      const user = await createUser(database.db, { alias: 'temp', email: 'temp@example.com' });
      await grantCategory(database.db, user.id, 'FR Leads');
      assert.deepEqual(await numbersSeenBy(user), [1004, 1005]);
      await revokeCategory(database.db, user.id, 'FR Leads');
      assert.deepEqual(await numbersSeenBy(user), []);
      assert.equal(await findVisibleTicket(database.db, user, 1004), null);
      await grantCategory(database.db, user.id, 'Support');
      assert.deepEqual(await numbersSeenBy(user), [1006]);
    });

    test('deactivated user sees nothing and opens no view', async () => {
      const user = await createUser(database.db, { alias: 'leaver', email: 'leaver@example.com' });
      await grantCategory(database.db, user.id, 'UK Leads');
      assert.deepEqual(await numbersSeenBy(user, { viewId: leadsViewId }), [1001, 1002]);
      await deactivateUser(database.db, user.id);
      assert.deepEqual(await numbersSeenBy(user), []);
      assert.equal(await findViewForUser(database.db, user, leadsViewId), null);
      assert.equal(await isTicketVisible(database.db, user, ticketIds.get(1001) as number), false);
    });

    test('promotion to admin reveals uncategorised tickets', async () => {
      const user = await createUser(database.db, { alias: 'rising', email: 'rising@example.com' });
      assert.deepEqual(await numbersSeenBy(user), []);
      await updateUser(database.db, user.id, { role: 'admin' });
      assert.deepEqual(await numbersSeenBy(user), [1007]);
    });

    test('unshared view closes at once', async () => {
      const view = await createView(database.db, { name: 'Brief', ownerUserId: manager.id, definition: {} });
      await shareView(database.db, view.id, { userId: fr.id });
      await shareView(database.db, view.id, { userId: fr.id });
      assert.equal((await findViewForUser(database.db, fr, view.id))?.shares.length, 1);
      assert.equal(await unshareView(database.db, view.id, { userId: fr.id }), true);
      assert.equal(await findViewForUser(database.db, fr, view.id), null);
      assert.notEqual(await findViewForUser(database.db, manager, view.id), null);
    });
  });

  describe('single ticket, message and attachment', () => {
    let messageId: number;
    let attachmentId: number;

    before(async () => {
      const [message] = await database.db('messages')
        .insert({ queue_id: queueIds.get(7), ticket_id: ticketIds.get(1001), direction: 'in', source_key: 'test:1', message_id: 'a@example.com', content_hash: 'x', raw: Buffer.from('Subject: hi\r\n\r\nhello'), raw_size: 21 })
        .returning<Array<{ id: number }>>('id');
      messageId = message.id;
      const [attachment] = await database.db('attachments')
        .insert({ message_row_id: messageId, filename: 'offer.pdf', content_type: 'application/pdf', size: 3, sha256: 'y', content: Buffer.from('pdf') })
        .returning<Array<{ id: number }>>('id');
      attachmentId = attachment.id;
    });

    test('forbidden ticket looks missing', async () => {
      assert.equal((await findVisibleTicket(database.db, uk, 1001))?.title, 'Ticket 1001');
      assert.equal(await findVisibleTicket(database.db, fr, 1001), null);
      assert.equal(await findVisibleTicket(database.db, fr, 999_999), null);
    });

    test('ticket visibility by id follows rights', async () => {
      assert.equal(await isTicketVisible(database.db, uk, ticketIds.get(1001) as number), true);
      assert.equal(await isTicketVisible(database.db, fr, ticketIds.get(1001) as number), false);
    });

    test('message raw bytes only for its ticket readers', async () => {
      const found = await findVisibleMessage(database.db, uk, messageId);
      assert.equal(found?.raw.toString(), 'Subject: hi\r\n\r\nhello');
      assert.equal(found?.ticketNumber, 1001);
      assert.equal(await findVisibleMessage(database.db, fr, messageId), null);
      assert.equal(await findVisibleMessage(database.db, uk, 999_999), null);
    });

    test('attachment content only for its ticket readers', async () => {
      const found = await findVisibleAttachment(database.db, manager, attachmentId);
      assert.deepEqual([found?.filename, found?.content.toString(), found?.ticketNumber], ['offer.pdf', 'pdf', 1001]);
      assert.equal(await findVisibleAttachment(database.db, fr, attachmentId), null);
      assert.equal(await findVisibleAttachment(database.db, uk, 999_999), null);
    });

    test('message on no ticket is not served', async () => {
      const [held] = await database.db('messages')
        .insert({ queue_id: queueIds.get(7), ticket_id: null, direction: 'in', source_key: 'test:2', message_id: 'b@example.com', content_hash: 'z', raw: Buffer.from('x'), raw_size: 1, state: 'held' })
        .returning<Array<{ id: number }>>('id');
      assert.equal(await findVisibleMessage(database.db, outsider, held.id), null);
    });
  });

  describe('view administration', () => {
    test('invalid definition names the field', async () => {
      await assert.rejects(createView(database.db, { name: 'Bad', ownerUserId: lab.id, definition: { filters: { priorities: ['asap'] } } }), /filters\.priorities\.0: must be one of low, normal, high, urgent/);
    });

    test('unknown owner alias is rejected', async () => {
      await assert.rejects(createView(database.db, { name: 'Ghost', ownerUserId: lab.id, definition: { filters: { owners: ['ghost'] } } }), /filters\.owners: no user has the alias "ghost"/);
    });

    test('unknown share role is rejected', async () => {
      await assert.rejects(shareView(database.db, leadsViewId, { role: 'guest' as 'agent' }), /Role "guest" is invalid: use admin or agent/);
    });

    test('update replaces the definition', async () => {
      const view = await createView(database.db, { name: 'Draft', ownerUserId: lab.id, definition: { filters: { statuses: ['new'] } } });
      const updated = await updateView(database.db, view.id, { name: 'Final', definition: { filters: { statuses: ['open'] } } });
      assert.deepEqual([updated.name, updated.definition.filters], ['Final', { statuses: ['open'] }]);
      assert.deepEqual(await numbersSeenBy(lab, { viewId: view.id }), [2002]);
    });

    test('deleted view cannot be opened', async () => {
      const view = await createView(database.db, { name: 'Gone', ownerUserId: lab.id, definition: {} });
      assert.equal(await deleteView(database.db, view.id), true);
      assert.equal(await findViewForUser(database.db, lab, view.id), null);
    });

    test('view without owner is open to its shares only', async () => {
      const view = await createView(database.db, { name: 'Team', ownerUserId: null, definition: {} });
      assert.equal(await findViewForUser(database.db, outsider, view.id), null);
      await shareView(database.db, view.id, { role: 'admin' });
      assert.equal((await findViewForUser(database.db, outsider, view.id))?.ownerAlias, null);
      assert.equal(await findViewForUser(database.db, uk, view.id), null);
    });
  });
});
