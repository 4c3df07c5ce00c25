import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { createApiToken, findUserByApiToken, listApiTokens, revokeApiToken } from '../../src/db/api-tokens.js';
import { assignQueueToHelpdesk, createHelpdesk, deleteHelpdesk, findHelpdeskByName, listHelpdesks } from '../../src/db/helpdesks.js';
import { createUser, deactivateUser, findUserByAlias, grantCategory, listUserCategories, listUsers, revokeCategory, updateUser } from '../../src/db/users.js';
import { startTestDatabase, type TestDatabase } from '../support/environment.js';
import { undoMigrationsFrom } from '../support/migrations.js';

describe('users, API tokens and helpdesks', () => {
  let database: TestDatabase;
  let queueId: number;

  before(async () => {
    database = await startTestDatabase();
    const [queue] = await database.db('queues')
      .insert({ number: 7, title: 'Sales', poll_interval_seconds: 60, max_message_bytes: 1_000_000, incoming: {} })
      .returning<Array<{ id: number }>>('id');
    queueId = queue.id;
    await database.db('categories').insert([{ name: 'UK Leads' }, { name: 'FR Leads' }]);
  });
  after(async () => {
    await database?.stop();
  });

  describe('users', () => {
    test('user created as admin keeps the role', async () => {
      const user = await createUser(database.db, { alias: 'Root', email: 'root@example.com', role: 'admin' });
      assert.deepEqual({ alias: user.alias, role: user.role, active: user.active }, { alias: 'root', role: 'admin', active: true });
      assert.equal((await listUsers(database.db)).find((listed) => listed.alias === 'root')?.role, 'admin');
    });

    test('unknown role is rejected by name', async () => {
      await assert.rejects(createUser(database.db, { alias: 'boss', email: 'boss@example.com', role: 'owner' as 'admin' }), /role "owner" is invalid: use admin or agent/);
    });

    test('update changes only the given fields', async () => {
      const user = await createUser(database.db, { alias: 'eve', email: 'eve@example.com', name: 'Eve' });
      const updated = await updateUser(database.db, user.id, { role: 'admin', email: 'eve@desk.example.com' });
      assert.deepEqual({ name: updated.name, email: updated.email, role: updated.role, alias: updated.alias }, { name: 'Eve', email: 'eve@desk.example.com', role: 'admin', alias: 'eve' });
    });

    test('update of a missing user names it', async () => {
      await assert.rejects(updateUser(database.db, 999_999, { name: 'x' }), /User 999999 does not exist/);
    });

    test('invalid email in update is rejected', async () => {
      const user = await createUser(database.db, { alias: 'fay', email: 'fay@example.com' });
      await assert.rejects(updateUser(database.db, user.id, { email: 'not-an-address' }), /email "not-an-address" is invalid/);
    });

    test('deactivated user stays listed as inactive', async () => {
      const user = await createUser(database.db, { alias: 'gus', email: 'gus@example.com' });
      await deactivateUser(database.db, user.id);
      assert.equal((await findUserByAlias(database.db, 'gus'))?.active, false);
    });

    test('category granted twice is listed once', async () => {
      const user = await createUser(database.db, { alias: 'hal', email: 'hal@example.com' });
      await grantCategory(database.db, user.id, 'UK Leads');
      await grantCategory(database.db, user.id, 'UK Leads');
      await grantCategory(database.db, user.id, 'FR Leads');
      assert.deepEqual(await listUserCategories(database.db, user.id), ['FR Leads', 'UK Leads']);
      assert.equal(await revokeCategory(database.db, user.id, 'FR Leads'), true);
      assert.equal(await revokeCategory(database.db, user.id, 'FR Leads'), false);
      assert.deepEqual(await listUserCategories(database.db, user.id), ['UK Leads']);
    });

    test('unknown category is rejected by name', async () => {
      const user = await createUser(database.db, { alias: 'ivy', email: 'ivy@example.com' });
      await assert.rejects(grantCategory(database.db, user.id, 'uk leads'), /Category "uk leads" does not exist: check its spelling/);
    });

    test('renamed category keeps its rights', async () => {
      await database.db('categories').insert({ name: 'DE Leads' });
      const user = await createUser(database.db, { alias: 'jon', email: 'jon@example.com' });
      await grantCategory(database.db, user.id, 'DE Leads');
      await database.db('categories').where({ name: 'DE Leads' }).update({ name: 'Germany Leads' });
      assert.deepEqual(await listUserCategories(database.db, user.id), ['Germany Leads']);
      await database.db('categories').where({ name: 'Germany Leads' }).delete();
      assert.deepEqual(await listUserCategories(database.db, user.id), []);
    });
  });

  describe('API tokens', () => {
    test('only the hash of a token is stored', async () => {
      const user = await createUser(database.db, { alias: 'tom', email: 'tom@example.com' });
      const { token, record } = await createApiToken(database.db, user.id, 'reporting script');
      assert.match(token, /^mq_[A-Za-z0-9_-]{43}$/);
      assert.equal(record.prefix, token.slice(0, 9));

      const row = await database.db('api_tokens').where({ id: record.id }).first();
      assert.equal(row.token_hash, createHash('sha256').update(token).digest('hex'));
      assert.ok(!JSON.stringify(row).includes(token.slice(3)), 'the token must not be stored');
    });

    test('token finds its user and records the use', async () => {
      const user = await createUser(database.db, { alias: 'uma', email: 'uma@example.com' });
      const { token, record } = await createApiToken(database.db, user.id, 'api');
      const found = await findUserByApiToken(database.db, token);
      assert.deepEqual({ alias: found?.user.alias, tokenId: found?.tokenId }, { alias: 'uma', tokenId: record.id });

      const [listed] = await listApiTokens(database.db, user.id);
      assert.notEqual(listed.lastUsedAt, null);
      assert.ok(!('tokenHash' in listed));
      assert.ok(!('token_hash' in listed));
    });

    test('last use is written at most once a minute', async () => {
      const user = await createUser(database.db, { alias: 'val', email: 'val@example.com' });
      const { token, record } = await createApiToken(database.db, user.id, 'api');
      await findUserByApiToken(database.db, token);
      const first = (await database.db('api_tokens').where({ id: record.id }).first('last_used_at')).last_used_at as Date;
      await findUserByApiToken(database.db, token);
      const second = (await database.db('api_tokens').where({ id: record.id }).first('last_used_at')).last_used_at as Date;
      assert.equal(second.getTime(), first.getTime());

      await database.db('api_tokens').where({ id: record.id }).update({ last_used_at: new Date('2020-01-01T00:00:00Z') });
      await findUserByApiToken(database.db, token);
      const third = (await database.db('api_tokens').where({ id: record.id }).first('last_used_at')).last_used_at as Date;
      assert.ok(third.getTime() >= first.getTime(), `last use ${third.toISOString()} was not brought forward`);
    });

    test('unknown and malformed tokens find nobody', async () => {
      assert.equal(await findUserByApiToken(database.db, `mq_${'A'.repeat(43)}`), null);
      assert.equal(await findUserByApiToken(database.db, 'Bearer something'), null);
      assert.equal(await findUserByApiToken(database.db, ''), null);
    });

    test('revoked token is rejected', async () => {
      const user = await createUser(database.db, { alias: 'wes', email: 'wes@example.com' });
      const { token, record } = await createApiToken(database.db, user.id, 'api');
      assert.equal(await revokeApiToken(database.db, record.id), true);
      assert.equal(await revokeApiToken(database.db, record.id), false);
      assert.equal(await findUserByApiToken(database.db, token), null);
      assert.notEqual((await listApiTokens(database.db, user.id))[0].revokedAt, null);
    });

    test('inactive user token is rejected', async () => {
      const user = await createUser(database.db, { alias: 'xia', email: 'xia@example.com' });
      const { token } = await createApiToken(database.db, user.id, 'api');
      await deactivateUser(database.db, user.id);
      assert.equal(await findUserByApiToken(database.db, token), null);
      await updateUser(database.db, user.id, { active: true });
      assert.equal((await findUserByApiToken(database.db, token))?.user.alias, 'xia');
    });

    test('empty token name is rejected', async () => {
      const user = await createUser(database.db, { alias: 'yan', email: 'yan@example.com' });
      await assert.rejects(createApiToken(database.db, user.id, '  '), /Token name "  " is invalid/);
    });

    test('token for a missing user is rejected', async () => {
      await assert.rejects(createApiToken(database.db, 999_999, 'api'), /User 999999 does not exist/);
    });
  });

  describe('helpdesks', () => {
    test('queue assigned to a helpdesk is listed with it', async () => {
      const helpdesk = await createHelpdesk(database.db, { name: 'UK', description: 'British customers' });
      await assignQueueToHelpdesk(database.db, queueId, helpdesk.id);
      assert.deepEqual((await findHelpdeskByName(database.db, 'UK'))?.queueNumbers, [7]);
      assert.deepEqual((await listHelpdesks(database.db)).map((listed) => [listed.name, listed.queueNumbers]), [['UK', [7]]]);
    });

    test('helpdesk name taken twice is rejected', async () => {
      await createHelpdesk(database.db, { name: 'France' });
      await assert.rejects(createHelpdesk(database.db, { name: 'France' }), /Helpdesk "France" already exists/);
    });

    test('deleting a helpdesk keeps its queues', async () => {
      const helpdesk = await createHelpdesk(database.db, { name: 'Temporary' });
      await assignQueueToHelpdesk(database.db, queueId, helpdesk.id);
      assert.equal(await deleteHelpdesk(database.db, helpdesk.id), true);
      assert.equal(await deleteHelpdesk(database.db, helpdesk.id), false);
      const queue = await database.db('queues').where({ id: queueId }).first('helpdesk_id', 'deleted_at');
      assert.deepEqual(queue, { helpdesk_id: null, deleted_at: null });
    });

    test('assigning to a missing helpdesk is rejected', async () => {
      await assert.rejects(assignQueueToHelpdesk(database.db, queueId, 999_999), /Helpdesk 999999 does not exist/);
    });

    test('assigning a missing queue is rejected', async () => {
      const helpdesk = await createHelpdesk(database.db, { name: 'Nowhere' });
      await assert.rejects(assignQueueToHelpdesk(database.db, 999_999, helpdesk.id), /Queue 999999 does not exist/);
    });
  });

  test('migration rolls back cleanly', async () => {
    await undoMigrationsFrom(database.db, '005-access');
    assert.equal(await database.db.schema.hasTable('api_tokens'), false);
    assert.equal(await database.db.schema.hasColumn('queues', 'helpdesk_id'), false);
    await database.db.migrate.latest();
    assert.equal(await database.db.schema.hasTable('user_category_rights'), true);
  });
});
