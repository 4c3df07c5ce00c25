import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createCategory, deleteCategory, findCategory, listCategories } from '../../src/db/categories.js';
import {
  createRoutingRule,
  deleteRoutingRule,
  findRoutingRule,
  listRoutingRules,
  loadRoutingRulesForQueue,
  moveRoutingRule,
  updateRoutingRule,
} from '../../src/db/routing-rules.js';
import { createUser } from '../../src/db/users.js';
import { MailqueueError } from '../../src/errors.js';
import { startTestDatabase, type TestDatabase } from '../support/environment.js';
import { undoMigrationsFrom } from '../support/migrations.js';

/** Runs `action` and returns the lines of the MailqueueError it throws. */
async function errorLines(action: () => Promise<unknown>): Promise<string[]> {
  try {
    await action();
  } catch (error) {
    assert.ok(error instanceof MailqueueError, `expected a MailqueueError, got ${String(error)}`);
    return error.message.split('\n').map((line) => line.trim());
  }
  assert.fail('expected the call to be rejected');
}

describe('routing rule repository', () => {
  let database: TestDatabase;
  const rule = (name: string, extra: Record<string, unknown> = {}) => ({ name, actions: [{ type: 'setPriority', priority: 'high' }], ...extra });

  before(async () => {
    database = await startTestDatabase();
    await database.db('queues').insert([
      { number: 1, title: 'Support', category: 'Support', poll_interval_seconds: 60, max_message_bytes: 1_000_000, incoming: {} },
      { number: 2, title: 'Sales', poll_interval_seconds: 60, max_message_bytes: 1_000_000, incoming: {} },
      { number: 9, title: 'Old', poll_interval_seconds: 60, max_message_bytes: 1_000_000, incoming: {}, deleted_at: new Date() },
    ]);
    await createCategory(database.db, { name: 'Support' });
    await createCategory(database.db, { name: 'Billing', description: 'Invoices and payments' });
    await createUser(database.db, { alias: 'jana', email: 'jana@example.com' });
    const retired = await createUser(database.db, { alias: 'petr', email: 'petr@example.com' });
    await database.db('users').where({ id: retired.id }).update({ active: false });
  });
  after(async () => {
    await database?.stop();
  });

  describe('save-time validation names the field', () => {
    const rows: Array<{ name: string; document: Record<string, unknown>; line: RegExp }> = [
      { name: 'unknown field', document: rule('r', { conditions: [{ field: 'sender', operator: 'equals', value: 'x' }] }), line: /^conditions\.0\.field: must be one of/ },
      { name: 'bad regex', document: rule('r', { conditions: [{ field: 'subject', operator: 'regex', value: '[a-' }] }), line: /^conditions\.0\.value: is not a valid regular expression/ },
      { name: 'unknown category', document: rule('r', { actions: [{ type: 'setCategory', category: 'Refunds' }] }), line: /^actions\.0\.category: category "Refunds" does not exist: create it with `mailqueue categories create/ },
      { name: 'category in other letter case', document: rule('r', { actions: [{ type: 'setCategory', category: 'billing' }] }), line: /^actions\.0\.category: category "billing" does not exist/ },
      { name: 'unknown status', document: rule('r', { actions: [{ type: 'setStatus', status: 'waiting' }] }), line: /^actions\.0\.status: status "waiting" does not exist: use one of closed, new, open, pending, solved/ },
      { name: 'unknown added status', document: rule('r', { actions: [{ type: 'addStatuses', statuses: ['open', 'vip'] }] }), line: /^actions\.0\.statuses\.1: status "vip" does not exist/ },
      { name: 'unknown owner alias', document: rule('r', { actions: [{ type: 'setOwner', owner: 'nobody' }] }), line: /^actions\.0\.owner: no user has the alias "nobody": run `mailqueue users list`/ },
      { name: 'inactive owner', document: rule('r', { actions: [{ type: 'setOwner', owner: 'Petr' }] }), line: /^actions\.0\.owner: user "petr" is inactive/ },
      { name: 'unknown queue number', document: rule('r', { queues: [1, 5] }), line: /^queues\.1: queue 5 does not exist: run `mailqueue queue list`/ },
      { name: 'deleted queue number', document: rule('r', { queues: [9] }), line: /^queues\.0: queue 9 does not exist/ },
      { name: 'unknown queue in a condition', document: rule('r', { conditions: [{ field: 'queue', operator: 'equals', value: 7 }] }), line: /^conditions\.0\.value: queue 7 does not exist/ },
    ];

    for (const row of rows) {
      test(`rejects ${row.name}`, async () => {
        const lines = await errorLines(() => createRoutingRule(database.db, row.document));
        assert.match(lines[0], /^Routing rule "r" is invalid:$/);
        assert.ok(lines.some((line) => row.line.test(line)), `no line matches ${row.line}:\n${lines.join('\n')}`);
      });
    }

    test('every problem is listed at once', async () => {
      const lines = await errorLines(() =>
        createRoutingRule(database.db, rule('many', { queues: [4], actions: [{ type: 'setCategory', category: 'Nope' }, { type: 'setStatus', status: 'gone' }] })),
      );
      assert.deepEqual(
        lines.slice(1).map((line) => line.split(':')[0]),
        ['queues.0', 'actions.0.category', 'actions.1.status'],
      );
    });

    test('a rejected rule is not stored', async () => {
      assert.equal((await listRoutingRules(database.db)).some((stored) => stored.name === 'r' || stored.name === 'many'), false);
    });
  });

  describe('order', () => {
    test('create appends, move and delete keep positions 1 to n', async () => {
      const first = await createRoutingRule(database.db, rule('first', { actions: [{ type: 'setCategory', category: 'Billing' }, { type: 'setOwner', owner: 'JANA' }] }));
      const second = await createRoutingRule(database.db, rule('second', { queues: [2] }));
      const third = await createRoutingRule(database.db, rule('third', { active: false }));
      assert.deepEqual([first.position, second.position, third.position], [1, 2, 3]);

      const inserted = await createRoutingRule(database.db, rule('inserted'), { position: 1 });
      assert.deepEqual((await listRoutingRules(database.db)).map((stored) => [stored.name, stored.position]), [['inserted', 1], ['first', 2], ['second', 3], ['third', 4]]);

      const moved = await moveRoutingRule(database.db, inserted.id, 4);
      assert.deepEqual(moved.map((stored) => [stored.name, stored.position]), [['first', 1], ['second', 2], ['third', 3], ['inserted', 4]]);

      assert.equal(await deleteRoutingRule(database.db, second.id), true);
      assert.equal(await deleteRoutingRule(database.db, second.id), false);
      assert.deepEqual((await listRoutingRules(database.db)).map((stored) => [stored.name, stored.position]), [['first', 1], ['third', 2], ['inserted', 3]]);
    });

    test('move out of range is refused', async () => {
      const [stored] = await listRoutingRules(database.db);
      const lines = await errorLines(() => moveRoutingRule(database.db, stored.id, 7));
      assert.match(lines[0], /^Position 7 is out of range: use a whole number from 1 to 3\.$/);
      await assert.rejects(moveRoutingRule(database.db, 99_999, 1), /Routing rule 99999 does not exist/);
    });

    test('update replaces the document and keeps the position', async () => {
      const [stored] = await listRoutingRules(database.db);
      const updated = await updateRoutingRule(database.db, stored.id, rule('first renamed', { runOnReplies: true }));
      assert.equal(updated.position, stored.position);
      assert.equal(updated.rule.runOnReplies, true);
      assert.equal((await findRoutingRule(database.db, stored.id))?.name, 'first renamed');
      await assert.rejects(updateRoutingRule(database.db, stored.id, rule('first renamed', { queues: [5] })), /queues\.0: queue 5 does not exist/);
      await assert.rejects(updateRoutingRule(database.db, 99_999, rule('x')), /Routing rule 99999 does not exist/);
    });

    test('a queue loads its active rules in order', async () => {
      await createRoutingRule(database.db, rule('sales only', { queues: [2] }));
      assert.deepEqual((await loadRoutingRulesForQueue(database.db, 1)).map((stored) => stored.name), ['first renamed', 'inserted']);
      assert.deepEqual((await loadRoutingRulesForQueue(database.db, 2)).map((stored) => stored.name), ['first renamed', 'inserted', 'sales only']);
    });
  });

  test('migration rolls back cleanly', async () => {
    await undoMigrationsFrom(database.db, '004-routing-rules');
    assert.equal(await database.db.schema.hasTable('routing_rules'), false);
    assert.equal(await database.db.schema.hasColumn('messages', 'routed_at'), false);
    await database.db.migrate.latest();
    assert.equal(await database.db.schema.hasTable('routing_rules'), true);
    assert.equal(await database.db.schema.hasColumn('messages', 'routed_at'), true);
  });

  describe('categories', () => {
    test('names are unique in any letter case', async () => {
      await assert.rejects(createCategory(database.db, { name: ' billing ' }), /Category "Billing" already exists/);
      await assert.rejects(createCategory(database.db, { name: '  ' }), /Category name "  " is invalid/);
      assert.deepEqual((await listCategories(database.db)).map((category) => category.name), ['Billing', 'Support']);
    });

    test('a category used by a queue is not deleted', async () => {
      await assert.rejects(deleteCategory(database.db, 'Support'), /Category "Support" is used by queue 1: give those queues another category first/);
    });

    test('a category set by a rule is not deleted', async () => {
      const setter = await createRoutingRule(database.db, rule('to billing', { actions: [{ type: 'setCategory', category: 'Billing' }] }));
      await assert.rejects(deleteCategory(database.db, 'Billing'), new RegExp(`Category "Billing" is set by routing rule ${setter.id}: change or delete those rules first`));
      await deleteRoutingRule(database.db, setter.id);
      await deleteCategory(database.db, 'Billing');
      assert.equal(await findCategory(database.db, 'Billing'), null);
    });

    test('deleting an unknown category names it', async () => {
      await assert.rejects(deleteCategory(database.db, 'Nothing'), /Category "Nothing" does not exist/);
    });
  });
});
