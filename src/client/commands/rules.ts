import type { Command } from 'commander';
import { z } from 'zod';

import { createCategory, deleteCategory, listCategories, type CategoryRecord } from '../../db/categories.js';
import {
  createRoutingRule,
  deleteRoutingRule,
  findRoutingRule,
  listRoutingRules,
  moveRoutingRule,
  updateRoutingRule,
  type RoutingRuleRecord,
} from '../../db/routing-rules.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, terminalSafe } from '../output.js';
import { readJsonFile } from './json-file.js';

type Run = (action: (context: CliContext) => Promise<void>) => Promise<void>;

/** Builds the `--json` form of a rule: its id, place and state, and the document as saved. */
export function ruleJson(record: RoutingRuleRecord) {
  return { id: record.id, position: record.position, name: record.name, active: record.active, rule: record.rule, createdAt: record.createdAt, updatedAt: record.updatedAt };
}

/** Builds the `--json` form of a category. */
export function categoryJson(category: CategoryRecord) {
  return { name: category.name, description: category.description, createdAt: category.createdAt };
}

function parsePositive(value: string, what: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new Error(`Invalid ${what} "${value}": use a positive whole number`);
  return number;
}

/** Reads a rule file; its fields are checked by the repository, which names each bad one. */
function readRuleFile(path: string): Promise<unknown> {
  return readJsonFile(path, 'Routing rule', z.unknown());
}

export function registerRuleCommands(program: Command, run: Run): void {
  const rules = program.command('rules').description('email routing rules: set ticket fields from message contents (see docs/routing-rules.md)');

  rules
    .command('create')
    .description('create a rule from a JSON file; every invalid field is listed and nothing is saved')
    .requiredOption('--file <path>', 'rule in JSON: { "name", "queues", "match", "conditions", "actions", ... }')
    .option('--position <n>', 'place in evaluation order, 1 first (default: last)')
    .option('--json', 'print the created rule as JSON')
    .action((options: { file: string; position?: string; json?: boolean }) =>
      run(async (context) => {
        const document = await readRuleFile(options.file);
        const position = options.position === undefined ? undefined : parsePositive(options.position, 'position');
        const created = await createRoutingRule(context.db(), document, { position });
        if (options.json) printJson(ruleJson(created));
        else process.stdout.write(`Created routing rule ${created.id} "${terminalSafe(created.name)}" at position ${created.position}.\n`);
      }),
    );

  rules
    .command('list')
    .description('list rules in evaluation order')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      run(async (context) => {
        const rows = await listRoutingRules(context.db());
        if (options.json) {
          printJson(rows.map(ruleJson));
          return;
        }
        printTable(
          ['POS', 'ID', 'ACTIVE', 'QUEUES', 'REPLIES', 'STOP', 'CONDITIONS', 'ACTIONS', 'NAME'],
          rows.map((row) => [
            row.position,
            row.id,
            row.active,
            row.rule.queues === 'all' ? 'all' : row.rule.queues.join(','),
            row.rule.runOnReplies,
            row.rule.stopProcessing,
            `${row.rule.match} of ${row.rule.conditions.length}`,
            row.rule.actions.map((action) => action.type).join(','),
            terminalSafe(row.name),
          ]),
        );
      }),
    );

  rules
    .command('show <id>')
    .description('show a rule; without --json it prints the document in the form `rules update` reads')
    .option('--json', 'print JSON with id, position and times')
    .action((idText: string, options: { json?: boolean }) =>
      run(async (context) => {
        const record = await findRoutingRule(context.db(), parsePositive(idText, 'rule id'));
        if (record === null) throw new Error(`Routing rule ${idText} does not exist: run \`mailqueue rules list\` for the ids`);
        printJson(options.json ? ruleJson(record) : record.rule);
      }),
    );

  rules
    .command('update <id>')
    .description('replace a rule from a JSON file; its position stays')
    .requiredOption('--file <path>', 'rule in JSON')
    .action((idText: string, options: { file: string }) =>
      run(async (context) => {
        const document = await readRuleFile(options.file);
        const updated = await updateRoutingRule(context.db(), parsePositive(idText, 'rule id'), document);
        process.stdout.write(`Updated routing rule ${updated.id} "${terminalSafe(updated.name)}".\n`);
      }),
    );

  rules
    .command('delete <id>')
    .description('delete a rule; the rules after it move up')
    .action((idText: string) =>
      run(async (context) => {
        const deleted = await deleteRoutingRule(context.db(), parsePositive(idText, 'rule id'));
        if (!deleted) throw new Error(`Routing rule ${idText} does not exist: run \`mailqueue rules list\` for the ids`);
        process.stdout.write(`Deleted routing rule ${idText}.\n`);
      }),
    );

  rules
    .command('move <id>')
    .description('move a rule to another place in evaluation order')
    .requiredOption('--position <n>', 'new place, 1 first')
    .action((idText: string, options: { position: string }) =>
      run(async (context) => {
        const id = parsePositive(idText, 'rule id');
        const order = await moveRoutingRule(context.db(), id, parsePositive(options.position, 'position'));
        process.stdout.write(`Moved routing rule ${id}. Order now: ${order.map((rule) => rule.id).join(', ')}\n`);
      }),
    );

  const categories = program.command('categories').description('ticket categories that queues and routing rules set');

  categories
    .command('create')
    .description('create a category')
    .requiredOption('--name <name>', 'unique name, such as "Billing"')
    .option('--description <text>', 'what belongs in it', '')
    .action((options: { name: string; description: string }) =>
      run(async (context) => {
        const created = await createCategory(context.db(), { name: options.name, description: options.description });
        process.stdout.write(`Created category "${terminalSafe(created.name)}".\n`);
      }),
    );

  categories
    .command('list')
    .description('list categories')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      run(async (context) => {
        const rows = await listCategories(context.db());
        if (options.json) {
          printJson(rows.map(categoryJson));
          return;
        }
        printTable(['NAME', 'DESCRIPTION'], rows.map((row) => [terminalSafe(row.name), terminalSafe(row.description)]));
      }),
    );

  categories
    .command('delete <name>')
    .description('delete a category that no queue and no routing rule uses')
    .action((name: string) =>
      run(async (context) => {
        await deleteCategory(context.db(), name);
        process.stdout.write(`Deleted category "${terminalSafe(name)}".\n`);
      }),
    );
}
