import type { Knex } from 'knex';

import { FailureType, MailqueueError } from '../errors.js';

/** A ticket category. Queues, tickets and routing rules refer to it by name. */
export interface CategoryRecord {
  id: number;
  name: string;
  description: string;
  createdAt: string;
}

interface CategoryRow {
  id: number;
  name: string;
  description: string;
  created_at: Date;
}

const maxNameLength = 100;
const maxDescriptionLength = 1000;

function toRecord(row: CategoryRow): CategoryRecord {
  return { id: row.id, name: row.name, description: row.description, createdAt: row.created_at.toISOString() };
}

function invalid(message: string, details: Record<string, unknown>): MailqueueError {
  return new MailqueueError(FailureType.InvalidConfiguration, message, details);
}

/**
 * Stores a new category. The name is trimmed and must be unique without regard to
 * letter case, so "Billing" and "billing" cannot both exist.
 *
 * @throws MailqueueError (InvalidConfiguration) naming the bad field, or when the name is taken.
 */
export async function createCategory(db: Knex, input: { name: string; description?: string }): Promise<CategoryRecord> {
  const name = input.name.trim();
  const description = (input.description ?? '').trim();

  if (name === '' || name.length > maxNameLength || /[\u0000-\u001f\u007f]/.test(name)) {
    throw invalid(`Category name ${JSON.stringify(input.name)} is invalid: use 1 to ${maxNameLength} printable characters, such as "Billing".`, { name: input.name });
  }
  if (description.length > maxDescriptionLength) {
    throw invalid(`Category description is too long: use at most ${maxDescriptionLength} characters.`, { name });
  }

  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', ['mailqueue:categories']);
    const taken: { name: string } | undefined = await trx('categories').whereRaw('lower(name) = lower(?)', [name]).first('name');
    if (taken) {
      throw invalid(`Category "${taken.name}" already exists: choose another name, or run \`mailqueue categories list\`.`, { name });
    }
    const [row] = await trx('categories').insert({ name, description }).returning<CategoryRow[]>('*');
    return toRecord(row);
  });
}

/** Result of `ensureCategory`: the stored name, and whether it was created, found as given, or found in another letter case. */
export type EnsuredCategory = { name: string; outcome: 'created' | 'existing' | 'other-case' };

/**
 * Makes sure a category named `name` exists, inside the caller's transaction, so a queue
 * can name a category that was not created yet. Names compare without regard to letter case,
 * as in createCategory: when "billing" is requested and "Billing" exists, "Billing" is
 * returned and nothing is inserted. Otherwise the exact name is inserted (on conflict, nothing).
 */
export async function ensureCategory(trx: Knex.Transaction, name: string): Promise<EnsuredCategory> {
  await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', ['mailqueue:categories']);
  const existing: { name: string } | undefined = await trx('categories').whereRaw('lower(name) = lower(?)', [name]).orderByRaw('name = ? DESC', [name]).first('name');
  if (existing) return { name: existing.name, outcome: existing.name === name ? 'existing' : 'other-case' };

  await trx('categories').insert({ name, description: '' }).onConflict('name').ignore();
  return { name, outcome: 'created' };
}

/** Lists categories ordered by name. */
export async function listCategories(db: Knex): Promise<CategoryRecord[]> {
  const rows: CategoryRow[] = await db('categories').orderBy('name').select('*');
  return rows.map(toRecord);
}

/** Finds a category by its exact name. */
export async function findCategory(db: Knex, name: string): Promise<CategoryRecord | null> {
  const row: CategoryRow | undefined = await db('categories').where({ name }).first();
  return row ? toRecord(row) : null;
}

/** Returns the entries of `names` that name no category, in the order given. */
export async function missingCategories(db: Knex, names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const rows: Array<{ name: string }> = await db('categories').whereIn('name', names).select('name');
  const known = new Set(rows.map((row) => row.name));
  return names.filter((name) => !known.has(name));
}

/**
 * Deletes a category that no queue and no routing rule uses. Tickets keep the name they carry.
 *
 * @throws MailqueueError (InvalidConfiguration) when the category does not exist, or when
 *   a queue (not deleted) or a routing rule uses it. The message names those queues or rules.
 */
export async function deleteCategory(db: Knex, name: string): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', ['mailqueue:categories']);
    const category: { id: number } | undefined = await trx('categories').where({ name }).first('id');
    if (!category) {
      throw invalid(`Category "${name}" does not exist: run \`mailqueue categories list\` for the names.`, { name });
    }

    const queues: Array<{ number: number }> = await trx('queues').where({ category: name }).whereNull('deleted_at').orderBy('number').select('number');
    if (queues.length > 0) {
      const numbers = queues.map((queue) => queue.number).join(', ');
      throw invalid(`Category "${name}" is used by queue ${numbers}: give those queues another category first.`, { name, queues: numbers });
    }

    const rules: Array<{ id: number }> = await trx('routing_rules')
      .whereRaw(`document->'actions' @> ?::jsonb`, [JSON.stringify([{ type: 'setCategory', category: name }])])
      .orderBy('position')
      .select('id');
    if (rules.length > 0) {
      const ids = rules.map((rule) => rule.id).join(', ');
      throw invalid(`Category "${name}" is set by routing rule ${ids}: change or delete those rules first.`, { name, rules: ids });
    }

    await trx('categories').where({ id: category.id }).delete();
  });
}
