import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startTestDatabase, type TestDatabase } from '../support/environment.js';
import { mailqueueEnvironment, runCli, type CliResult } from './cli-process.js';

interface RuleJson {
  id: number;
  position: number;
  name: string;
  active: boolean;
  rule: { queues: unknown; runOnReplies: boolean };
}

function parseJson<T>(result: CliResult): T {
  assert.equal(result.code, 0, `command failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

describe('mailqueue rules and categories', () => {
  let database: TestDatabase;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const cli = (...args: string[]): Promise<CliResult> => runCli(args, env);
  const ruleFile = async (name: string, document: unknown): Promise<string> => {
    const path = join(dir, `${name}.json`);
    await writeFile(path, JSON.stringify(document));
    return path;
  };

  before(async () => {
    database = await startTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'mailqueue-rules-cli-'));
    env = mailqueueEnvironment({ DATABASE_URL: database.url, LOG_LEVEL: 'error' });
  });
  after(async () => {
    await database?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('category create and list', async () => {
    const created = await cli('categories', 'create', '--name', 'Billing', '--description', 'Invoices');
    assert.equal(created.code, 0, created.stderr);
    const listed = parseJson<Array<{ name: string; description: string }>>(await cli('categories', 'list', '--json'));
    assert.deepEqual(listed.map((category) => [category.name, category.description]), [['Billing', 'Invoices']]);
  });

  test('invalid rule prints each field', async () => {
    const path = await ruleFile('invalid', {
      name: 'Broken',
      conditions: [{ field: 'subjekt', operator: 'contains', value: 'x' }, { field: 'subject', operator: 'regex', value: '(' }],
      actions: [{ type: 'setCategory', category: 'Refunds' }],
    });
    const result = await cli('rules', 'create', '--file', path);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /conditions\.0\.field: must be one of from,/);
    assert.match(result.stderr, /conditions\.1\.value: is not a valid regular expression/);
    assert.deepEqual(parseJson<unknown[]>(await cli('rules', 'list', '--json')), []);
  });

  test('unknown category is named', async () => {
    const path = await ruleFile('unknown-category', { name: 'Refunds', actions: [{ type: 'setCategory', category: 'Refunds' }] });
    const result = await cli('rules', 'create', '--file', path);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /actions\.0\.category: category "Refunds" does not exist/);
  });

  test('create, show, update, move and delete', async () => {
    const first = parseJson<RuleJson>(await cli('rules', 'create', '--file', await ruleFile('first', { name: 'First', actions: [{ type: 'setCategory', category: 'Billing' }] }), '--json'));
    const second = parseJson<RuleJson>(await cli('rules', 'create', '--file', await ruleFile('second', { name: 'Second', actions: [{ type: 'setPriority', priority: 'high' }] }), '--json'));
    assert.deepEqual([first.position, second.position], [1, 2]);

    const shown = parseJson<{ name: string; queues: unknown }>(await cli('rules', 'show', String(first.id)));
    assert.equal(shown.name, 'First');
    assert.equal(shown.queues, 'all');

    const updated = await cli('rules', 'update', String(first.id), '--file', await ruleFile('first-update', { ...shown, runOnReplies: true }));
    assert.equal(updated.code, 0, updated.stderr);
    assert.equal(parseJson<RuleJson>(await cli('rules', 'show', String(first.id), '--json')).rule.runOnReplies, true);

    const moved = await cli('rules', 'move', String(second.id), '--position', '1');
    assert.equal(moved.code, 0, moved.stderr);
    assert.deepEqual(parseJson<RuleJson[]>(await cli('rules', 'list', '--json')).map((rule) => rule.name), ['Second', 'First']);

    const blocked = await cli('categories', 'delete', 'Billing');
    assert.equal(blocked.code, 1);
    assert.match(blocked.stderr, new RegExp(`set by routing rule ${first.id}`));

    assert.equal((await cli('rules', 'delete', String(first.id))).code, 0);
    assert.equal((await cli('rules', 'delete', String(first.id))).code, 1);
    assert.equal((await cli('categories', 'delete', 'Billing')).code, 0);
    assert.deepEqual(parseJson<RuleJson[]>(await cli('rules', 'list', '--json')).map((rule) => [rule.name, rule.position]), [['Second', 1]]);
  });

  test('list prints a table', async () => {
    const result = await cli('rules', 'list');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^POS\s+ID\s+ACTIVE/);
    assert.match(result.stdout, /\n1\s+\d+\s+true\s+all\s+false\s+false\s+all of 0\s+setPriority\s+Second\n/);
  });
});
