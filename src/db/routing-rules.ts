import type { Knex } from 'knex';

import { parseRoutingRule, type RoutingRule, type StoredRoutingRule } from '../domain/routing-rules.js';
import { FailureType, MailqueueError } from '../errors.js';
import { missingCategories } from './categories.js';

/** A stored routing rule. `position` is its place in evaluation order, 1 first. */
export interface RoutingRuleRecord {
  id: number;
  position: number;
  name: string;
  active: boolean;
  rule: RoutingRule;
  createdAt: string;
  updatedAt: string;
}

interface RoutingRuleRow {
  id: number;
  position: number;
  name: string;
  active: boolean;
  document: RoutingRule;
  created_at: Date;
  updated_at: Date;
}

const lockKey = 'mailqueue:routing-rules';

function toRecord(row: RoutingRuleRow): RoutingRuleRecord {
  return {
    id: row.id,
    position: row.position,
    name: row.name,
    active: row.active,
    rule: row.document,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function invalidRule(name: string, errors: string[]): MailqueueError {
  return new MailqueueError(FailureType.InvalidConfiguration, `Routing rule ${JSON.stringify(name)} is invalid:\n  ${errors.join('\n  ')}`, { name, errors });
}

/**
 * Checks what a rule names against the database: queue numbers (not deleted),
 * categories, statuses and owner aliases (active users). Returns one line per
 * problem, `path: problem and fix`; empty when the rule can be saved.
 */
export async function checkRoutingRuleReferences(db: Knex | Knex.Transaction, rule: RoutingRule): Promise<string[]> {
  const errors: string[] = [];

  const queueRows: Array<{ number: number }> = await db('queues').whereNull('deleted_at').select('number');
  const queueNumbers = new Set(queueRows.map((row) => row.number));
  const unknownQueue = (number: number): string => `queue ${number} does not exist: run \`mailqueue queue list\` for the numbers`;
  if (rule.queues !== 'all') {
    rule.queues.forEach((number, index) => {
      if (!queueNumbers.has(number)) errors.push(`queues.${index}: ${unknownQueue(number)}`);
    });
  }
  rule.conditions.forEach((condition, index) => {
    if (condition.field === 'queue' && typeof condition.value === 'number' && !queueNumbers.has(condition.value)) {
      errors.push(`conditions.${index}.value: ${unknownQueue(condition.value)}`);
    }
  });

  const categoryNames = rule.actions.flatMap((action) => (action.type === 'setCategory' ? [action.category] : []));
  const unknownCategories = new Set(await missingCategories(db, categoryNames));
  const statusRows: Array<{ name: string }> = await db('statuses').select('name');
  const statuses = new Set(statusRows.map((row) => row.name));
  const unknownStatus = (status: string): string =>
    `status "${status}" does not exist: use one of ${[...statuses].sort().join(', ')}, or add it to the statuses table first`;

  for (const [index, action] of rule.actions.entries()) {
    const path = `actions.${index}`;
    if (action.type === 'setCategory' && unknownCategories.has(action.category)) {
      errors.push(`${path}.category: category "${action.category}" does not exist: create it with \`mailqueue categories create --name ${JSON.stringify(action.category)}\`, or run \`mailqueue categories list\``);
    }
    if (action.type === 'setStatus' && !statuses.has(action.status)) {
      errors.push(`${path}.status: ${unknownStatus(action.status)}`);
    }
    if (action.type === 'addStatuses') {
      action.statuses.forEach((status, statusIndex) => {
        if (!statuses.has(status)) errors.push(`${path}.statuses.${statusIndex}: ${unknownStatus(status)}`);
      });
    }
    if (action.type === 'setOwner') {
      const alias = action.owner.trim().toLowerCase();
      const user: { active: boolean } | undefined = await db('users').where({ alias }).first('active');
      if (!user) errors.push(`${path}.owner: no user has the alias "${action.owner}": run \`mailqueue users list\` for the aliases`);
      else if (!user.active) errors.push(`${path}.owner: user "${alias}" is inactive: choose an active user`);
    }
  }
  return errors;
}

/** Parses and checks a document in full; throws with every problem, each naming its field. */
async function validatedRule(db: Knex | Knex.Transaction, document: unknown): Promise<RoutingRule> {
  const parsed = parseRoutingRule(document);
  const name = typeof (document as { name?: unknown } | null)?.name === 'string' ? (document as { name: string }).name : '(unnamed)';
  if (!parsed.ok) throw invalidRule(name, parsed.errors);

  const errors = await checkRoutingRuleReferences(db, parsed.rule);
  if (errors.length > 0) throw invalidRule(parsed.rule.name, errors);
  return parsed.rule;
}

async function ruleIdsInOrder(trx: Knex.Transaction): Promise<number[]> {
  const rows: Array<{ id: number }> = await trx('routing_rules').orderBy([{ column: 'position' }, { column: 'id' }]).select('id');
  return rows.map((row) => row.id);
}

/** Writes positions 1…n in the given order. */
async function renumber(trx: Knex.Transaction, ids: number[]): Promise<void> {
  for (const [index, id] of ids.entries()) {
    await trx('routing_rules').where({ id }).whereNot({ position: index + 1 }).update({ position: index + 1 });
  }
}

function positionError(position: number, count: number): MailqueueError {
  return new MailqueueError(FailureType.InvalidConfiguration, `Position ${position} is out of range: use a whole number from 1 to ${count}.`, { position, count });
}

/**
 * Validates and stores a new rule, last in order unless `position` (1 first) puts it
 * earlier. Rules after that place move down by one.
 *
 * @throws MailqueueError (InvalidConfiguration) listing every problem with its field path.
 */
export async function createRoutingRule(db: Knex, document: unknown, options: { position?: number } = {}): Promise<RoutingRuleRecord> {
  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [lockKey]);
    const rule = await validatedRule(trx, document);
    const ids = await ruleIdsInOrder(trx);
    const position = options.position ?? ids.length + 1;
    if (!Number.isInteger(position) || position < 1 || position > ids.length + 1) throw positionError(position, ids.length + 1);

    const [row] = await trx('routing_rules')
      .insert({ position: ids.length + 1, name: rule.name, document: JSON.stringify(rule), active: rule.active })
      .returning<RoutingRuleRow[]>('*');
    ids.splice(position - 1, 0, row.id);
    await renumber(trx, ids);
    return toRecord({ ...row, position });
  });
}

/**
 * Replaces a rule's document; its position stays.
 *
 * @throws MailqueueError (InvalidConfiguration) when the rule does not exist, or listing every problem with its field path.
 */
export async function updateRoutingRule(db: Knex, id: number, document: unknown): Promise<RoutingRuleRecord> {
  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [lockKey]);
    const rule = await validatedRule(trx, document);
    const [row] = await trx('routing_rules')
      .where({ id })
      .update({ name: rule.name, document: JSON.stringify(rule), active: rule.active, updated_at: trx.fn.now() })
      .returning<RoutingRuleRow[]>('*');
    if (!row) throw notFound(id);
    return toRecord(row);
  });
}

function notFound(id: number): MailqueueError {
  return new MailqueueError(FailureType.InvalidConfiguration, `Routing rule ${id} does not exist: run \`mailqueue rules list\` for the ids.`, { id });
}

/** Lists rules in evaluation order. */
export async function listRoutingRules(db: Knex): Promise<RoutingRuleRecord[]> {
  const rows: RoutingRuleRow[] = await db('routing_rules').orderBy([{ column: 'position' }, { column: 'id' }]).select('*');
  return rows.map(toRecord);
}

export async function findRoutingRule(db: Knex, id: number): Promise<RoutingRuleRecord | null> {
  const row: RoutingRuleRow | undefined = await db('routing_rules').where({ id }).first();
  return row ? toRecord(row) : null;
}

/** Deletes a rule and closes the gap in the order; false when it did not exist. */
export async function deleteRoutingRule(db: Knex, id: number): Promise<boolean> {
  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [lockKey]);
    const removed = await trx('routing_rules').where({ id }).delete();
    if (removed === 0) return false;
    await renumber(trx, await ruleIdsInOrder(trx));
    return true;
  });
}

/**
 * Moves a rule to `position` (1 first); the rules in between shift by one.
 *
 * @returns every rule in the new order.
 * @throws MailqueueError (InvalidConfiguration) when the rule does not exist or the position is out of range.
 */
export async function moveRoutingRule(db: Knex, id: number, position: number): Promise<RoutingRuleRecord[]> {
  await db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [lockKey]);
    const ids = await ruleIdsInOrder(trx);
    const from = ids.indexOf(id);
    if (from === -1) throw notFound(id);
    if (!Number.isInteger(position) || position < 1 || position > ids.length) throw positionError(position, ids.length);

    ids.splice(from, 1);
    ids.splice(position - 1, 0, id);
    await renumber(trx, ids);
  });
  return listRoutingRules(db);
}

/** Loads the active rules for queue `queueNumber` in evaluation order, in the form the evaluator takes. */
export async function loadRoutingRulesForQueue(db: Knex, queueNumber: number): Promise<StoredRoutingRule[]> {
  const rows: RoutingRuleRow[] = await db('routing_rules').where({ active: true }).orderBy([{ column: 'position' }, { column: 'id' }]).select('*');
  return rows
    // A document that is not a rule any more passes through, so the evaluator reports it.
    .filter((row) => !Array.isArray(row.document.queues) || row.document.queues.includes(queueNumber))
    .map((row) => ({ id: row.id, name: row.name, rule: row.document }));
}
