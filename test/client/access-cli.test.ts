import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startTestDatabase, type TestDatabase } from '../support/environment.js';
import { mailqueueEnvironment, runCli, type CliResult } from './cli-process.js';

interface TicketPageJson {
  page: number;
  pageSize: number;
  total: number;
  tickets: Array<{ number: number; category: string | null; queue: number; owner: string | null }>;
}

function parseJson<T>(result: CliResult): T {
  assert.equal(result.code, 0, `command failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

describe('mailqueue CLI for users, rights, views and helpdesks', () => {
  let database: TestDatabase;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let leadsViewId: number;

  const cli = (...args: string[]): Promise<CliResult> => runCli(args, env);
  const ok = async (...args: string[]): Promise<CliResult> => {
    const result = await cli(...args);
    assert.equal(result.code, 0, `mailqueue ${args.join(' ')} failed: ${result.stderr}`);
    return result;
  };
  const jsonFile = async (name: string, content: unknown): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, JSON.stringify(content, null, 2));
    return path;
  };
  const ticketNumbers = (page: TicketPageJson): number[] => page.tickets.map((ticket) => ticket.number).sort((a, b) => a - b);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mq-access-cli-'));
    database = await startTestDatabase();
    env = mailqueueEnvironment({ DATABASE_URL: database.url, LOG_LEVEL: 'error' });

    const db = database.db;
    const [queue] = await db('queues')
      .insert({ number: 7, title: 'Sales', poll_interval_seconds: 60, max_message_bytes: 1_000_000, incoming: {} })
      .returning<Array<{ id: number }>>('id');
    await db('categories').insert([{ name: 'UK Leads' }, { name: 'FR Leads' }]);
    const tickets: Array<[number, string | null, string]> = [
      [1001, 'UK Leads', 'new'],
      [1002, 'UK Leads', 'new'],
      [1003, 'UK Leads', 'open'],
      [1004, 'FR Leads', 'new'],
      [1005, null, 'new'],
    ];
    await db('tickets').insert(tickets.map(([number, category, status]) => ({ number, queue_id: queue.id, title: `Lead ${number}`, category, status })));

    for (const [alias, role] of [['uk.sales', 'agent'], ['fr.sales', 'agent'], ['manager', 'agent'], ['outsider', 'admin']]) {
      await ok('users', 'create', '--alias', alias, '--email', `${alias}@example.com`, '--role', role);
    }
    await ok('users', 'grant', 'uk.sales', 'UK Leads');
    await ok('users', 'grant', 'fr.sales', 'FR Leads');
    await ok('users', 'grant', 'manager', 'UK Leads');
    await ok('users', 'grant', 'manager', 'FR Leads');
    await ok('users', 'grant', 'outsider', 'UK Leads');

    const created = await ok('views', 'create', '--file', await jsonFile('leads.json', { name: 'Leads', filters: { statuses: ['new'] }, order: [{ field: 'number' }] }), '--owner', 'manager', '--json');
    leadsViewId = (JSON.parse(created.stdout) as { id: number }).id;
    await ok('views', 'share', String(leadsViewId), '--role', 'agent');
  });

  after(async () => {
    await database?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  describe('users', () => {
    test('list json shows role and active', async () => {
      const users = parseJson<Array<{ alias: string; role: string; active: boolean }>>(await cli('users', 'list', '--json'));
      const outsider = users.find((user) => user.alias === 'outsider');
      assert.equal(outsider?.role, 'admin');
      assert.equal(outsider?.active, true);
    });

    test('unknown role is rejected', async () => {
      const result = await cli('users', 'create', '--alias', 'boss', '--email', 'boss@example.com', '--role', 'owner');
      assert.equal(result.code, 1);
      assert.match(result.stderr, /Invalid role "owner": use admin or agent/);
    });

    test('grant of unknown category names it', async () => {
      const result = await cli('users', 'grant', 'uk.sales', 'Uk Leads');
      assert.equal(result.code, 1);
      assert.match(result.stderr, /Category "Uk Leads" does not exist/);
    });

    test('grant for unknown user names it', async () => {
      const result = await cli('users', 'grant', 'ghost', 'UK Leads');
      assert.equal(result.code, 1);
      assert.match(result.stderr, /User "ghost" does not exist/);
    });

    test('categories lists the grants', async () => {
      assert.deepEqual(parseJson<string[]>(await cli('users', 'categories', 'manager', '--json')), ['FR Leads', 'UK Leads']);
    });

    test('update changes role and active state', async () => {
      await ok('users', 'create', '--alias', 'temp', '--email', 'temp@example.com');
      const updated = parseJson<{ role: string; active: boolean }>(await cli('users', 'update', 'temp', '--role', 'admin', '--deactivate', '--json'));
      assert.deepEqual([updated.role, updated.active], ['admin', false]);
    });
  });

  describe('the Leads view', () => {
    test('each agent sees exactly their leads', async () => {
      const seen: Record<string, number[]> = {};
      for (const alias of ['uk.sales', 'fr.sales', 'manager']) {
        seen[alias] = ticketNumbers(parseJson<TicketPageJson>(await cli('views', 'tickets', String(leadsViewId), '--as', alias, '--json')));
      }
      assert.deepEqual(seen, { 'uk.sales': [1001, 1002], 'fr.sales': [1004], manager: [1001, 1002, 1004] });
    });

    test('admin without the share cannot open it', async () => {
      const result = await cli('views', 'tickets', String(leadsViewId), '--as', 'outsider');
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`View ${leadsViewId} does not exist or is not shared with "outsider"`));
    });

    test('list shows the view to agents only', async () => {
      const views = parseJson<Array<{ name: string; owner: string; sharedWith: unknown[] }>>(await cli('views', 'list', '--as', 'fr.sales', '--json'));
      assert.deepEqual(views.map((view) => [view.name, view.owner, view.sharedWith]), [['Leads', 'manager', [{ role: 'agent' }]]]);
      assert.deepEqual(parseJson<unknown[]>(await cli('views', 'list', '--as', 'outsider', '--json')), []);
    });

    test('invalid view file names the field', async () => {
      const result = await cli('views', 'create', '--file', await jsonFile('bad.json', { name: 'Bad', filters: { priorities: ['asap'] } }));
      assert.equal(result.code, 1);
      assert.match(result.stderr, /filters\.priorities\.0: must be one of low, normal, high, urgent/);
    });

    test('view file without name is rejected', async () => {
      const result = await cli('views', 'create', '--file', await jsonFile('nameless.json', { filters: {} }));
      assert.equal(result.code, 1);
      assert.match(result.stderr, /name: is required/);
    });

    test('share needs exactly one target', async () => {
      const result = await cli('views', 'share', String(leadsViewId), '--role', 'agent', '--user', 'manager');
      assert.equal(result.code, 1);
      assert.match(result.stderr, /Give exactly one of --user <alias> or --role <admin\|agent>/);
    });

    test('unshare by user closes the view', async () => {
      await ok('views', 'share', String(leadsViewId), '--user', 'outsider');
      assert.equal((await cli('views', 'tickets', String(leadsViewId), '--as', 'outsider', '--json')).code, 0);
      await ok('views', 'unshare', String(leadsViewId), '--user', 'outsider');
      assert.equal((await cli('views', 'tickets', String(leadsViewId), '--as', 'outsider')).code, 1);
    });
  });

  describe('all tickets', () => {
    test('agent lists every ticket of their categories', async () => {
      assert.deepEqual(ticketNumbers(parseJson<TicketPageJson>(await cli('tickets', 'list', '--as', 'uk.sales', '--json'))), [1001, 1002, 1003]);
    });

    test('admin also lists uncategorised tickets', async () => {
      assert.deepEqual(ticketNumbers(parseJson<TicketPageJson>(await cli('tickets', 'list', '--as', 'outsider', '--json'))), [1001, 1002, 1003, 1005]);
    });

    test('pages carry the total', async () => {
      const page = parseJson<TicketPageJson>(await cli('tickets', 'list', '--as', 'manager', '--limit', '2', '--page', '2', '--json'));
      assert.deepEqual([page.page, page.pageSize, page.total, page.tickets.length], [2, 2, 4, 2]);
    });

    test('table ends with the page line', async () => {
      const result = await ok('tickets', 'list', '--as', 'fr.sales');
      assert.match(result.stdout, /^1004\s+7\s+new\s+normal\s+FR Leads/m);
      assert.match(result.stdout, /Page 1 of 1, 1 ticket in all\./);
    });

    test('revoked right hides tickets at once', async () => {
      await ok('users', 'create', '--alias', 'rotating', '--email', 'rotating@example.com');
      await ok('users', 'grant', 'rotating', 'FR Leads');
      assert.equal(parseJson<TicketPageJson>(await cli('tickets', 'list', '--as', 'rotating', '--json')).total, 1);
      await ok('users', 'revoke', 'rotating', 'FR Leads');
      assert.equal(parseJson<TicketPageJson>(await cli('tickets', 'list', '--as', 'rotating', '--json')).total, 0);
    });
  });

  describe('API tokens', () => {
    test('token is printed once and stored hashed', async () => {
      const result = await ok('users', 'tokens', 'create', 'uk.sales', '--name', 'reporting');
      const token = result.stdout.trim();
      assert.match(token, /^mq_[A-Za-z0-9_-]{43}$/);
      assert.match(result.stderr, /Store this token now/);

      const stored = await database.db('api_tokens').where({ token_hash: createHash('sha256').update(token).digest('hex') }).first('id');
      assert.notEqual(stored, undefined);

      const listed = await ok('users', 'tokens', 'list', 'uk.sales', '--json');
      assert.equal(listed.stdout.includes(token.slice(9)), false, 'the token is in the listing');
      assert.deepEqual((JSON.parse(listed.stdout) as Array<{ name: string; prefix: string }>).map((row) => [row.name, row.prefix]), [['reporting', token.slice(0, 9)]]);
    });

    test('revoke marks the token revoked', async () => {
      const created = parseJson<{ id: number; token: string }>(await cli('users', 'tokens', 'create', 'fr.sales', '--name', 'script', '--json'));
      const revoked = await ok('users', 'tokens', 'revoke', String(created.id));
      assert.match(revoked.stdout, new RegExp(`API token ${created.id} revoked`));
      const [listed] = parseJson<Array<{ revokedAt: string | null }>>(await cli('users', 'tokens', 'list', 'fr.sales', '--json'));
      assert.notEqual(listed.revokedAt, null);
    });

    test('revoking a missing token fails', async () => {
      const result = await cli('users', 'tokens', 'revoke', '999999');
      assert.equal(result.code, 1);
      assert.match(result.stderr, /API token 999999 does not exist/);
    });
  });

  describe('helpdesks and queue agents', () => {
    test('helpdesk lists its assigned queue', async () => {
      await ok('helpdesks', 'create', 'United Kingdom', '--description', 'British customers');
      await ok('helpdesks', 'assign', 'United Kingdom', '7');
      const listed = parseJson<Array<{ name: string; queues: number[] }>>(await cli('helpdesks', 'list', '--json'));
      assert.deepEqual(listed.map((helpdesk) => [helpdesk.name, helpdesk.queues]), [['United Kingdom', [7]]]);

      await ok('helpdesks', 'delete', 'United Kingdom');
      assert.deepEqual(parseJson<unknown[]>(await cli('helpdesks', 'list', '--json')), []);
      assert.equal((await database.db('queues').where({ number: 7 }).first('helpdesk_id')).helpdesk_id, null);
    });

    test('queue agents are added, listed and removed', async () => {
      await ok('queue', 'agents', 'add', '7', 'uk.sales');
      await ok('queue', 'agents', 'add', '7', 'manager');
      const listed = parseJson<Array<{ alias: string }>>(await cli('queue', 'agents', 'list', '7', '--json'));
      assert.deepEqual(listed.map((user) => user.alias), ['manager', 'uk.sales']);

      const removed = await ok('queue', 'agents', 'remove', '7', 'manager');
      assert.match(removed.stdout, /may no longer use queue 7/);
      assert.deepEqual(parseJson<Array<{ alias: string }>>(await cli('queue', 'agents', 'list', '7', '--json')).map((user) => user.alias), ['uk.sales']);
    });

    test('agents of a missing queue fail', async () => {
      const result = await cli('queue', 'agents', 'list', '99');
      assert.equal(result.code, 1);
      assert.match(result.stderr, /Queue 99 does not exist/);
    });
  });
});
