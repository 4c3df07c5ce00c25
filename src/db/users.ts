import type { Knex } from 'knex';

import { isEmailAddress } from '../domain/queue-config.js';
import { FailureType, MailqueueError } from '../errors.js';

export const userRoles = ['admin', 'agent'] as const;
/** admin manages configuration; agent works the tickets of their categories. Both see tickets only by category rights. */
export type UserRole = (typeof userRoles)[number];

/** A person who works tickets, writes replies and whose name may appear in sender-info and signatures. */
export interface UserRecord {
  id: number;
  /** Lower case; unique without regard to case. */
  alias: string;
  name: string;
  email: string;
  role: UserRole;
  /** An inactive user keeps their history, but their API tokens are rejected and ticket listings return nothing for them. */
  active: boolean;
  createdAt: string;
}

export interface UserInput {
  alias: string;
  email: string;
  name?: string;
  /** Defaults to agent. */
  role?: UserRole;
}

/** Fields `updateUser` changes; the fields left out keep their value. */
export interface UserChanges {
  email?: string;
  name?: string;
  role?: UserRole;
  active?: boolean;
}

interface UserRow {
  id: number;
  alias: string;
  name: string;
  email: string;
  role: UserRole;
  active: boolean;
  created_at: Date;
}

const aliasPattern = /^[a-z0-9._-]+$/;
const maxAliasLength = 100;
const maxNameLength = 200;

function toRecord(row: UserRow): UserRecord {
  return { id: row.id, alias: row.alias, name: row.name, email: row.email, role: row.role, active: row.active, createdAt: row.created_at.toISOString() };
}

function roleErrors(role: string | undefined): string[] {
  if (role === undefined || (userRoles as readonly string[]).includes(role)) return [];
  return [`role ${JSON.stringify(role)} is invalid: use ${userRoles.join(' or ')}.`];
}

function nameErrors(name: string | undefined): string[] {
  if ((name ?? '').length > maxNameLength || /[\u0000-\u001f\u007f]/.test(name ?? '')) {
    return [`name ${JSON.stringify(name)} is invalid: use at most ${maxNameLength} printable characters on one line.`];
  }
  return [];
}

function emailErrors(email: string): string[] {
  return isEmailAddress(email.trim()) ? [] : [`email ${JSON.stringify(email)} is invalid: use a mail address such as jan.novak@example.com.`];
}

/** Returns the problems with a new user; empty when it can be stored. The alias is compared in lower case. */
export function validateUserInput(input: UserInput): string[] {
  const errors: string[] = [];
  const alias = input.alias.trim().toLowerCase();

  if (!aliasPattern.test(alias) || alias.length > maxAliasLength) {
    errors.push(`alias ${JSON.stringify(input.alias)} is invalid: use 1 to ${maxAliasLength} letters a-z, digits, ".", "_" or "-", such as "jan.novak".`);
  }
  errors.push(...emailErrors(input.email), ...nameErrors(input.name), ...roleErrors(input.role));

  return errors;
}

/**
 * Stores a new user with its alias in lower case.
 *
 * @throws MailqueueError (InvalidConfiguration) listing every invalid field, or when the
 *   alias is taken (in any letter case).
 */
export async function createUser(db: Knex, input: UserInput): Promise<UserRecord> {
  const errors = validateUserInput(input);
  if (errors.length > 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `User ${JSON.stringify(input.alias)} is invalid:\n  ${errors.join('\n  ')}`, { alias: input.alias, errors });
  }

  const alias = input.alias.trim().toLowerCase();
  if (await findUserByAlias(db, alias)) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `User alias "${alias}" is already taken: choose another alias, or run \`mailqueue users list\`.`, { alias });
  }

  const [row] = await db('users')
    .insert({ alias, name: (input.name ?? '').trim(), email: input.email.trim(), role: input.role ?? 'agent' })
    .returning<UserRow[]>('*');
  return toRecord(row);
}

/** Lists users ordered by alias. */
export async function listUsers(db: Knex): Promise<UserRecord[]> {
  const rows: UserRow[] = await db('users').orderBy('alias').select('*');
  return rows.map(toRecord);
}

/** Finds a user by alias in any letter case. */
export async function findUserByAlias(db: Knex, alias: string): Promise<UserRecord | null> {
  const row: UserRow | undefined = await db('users').where({ alias: alias.trim().toLowerCase() }).first();
  return row ? toRecord(row) : null;
}

/** Finds a user by id, active or not. */
export async function findUserById(db: Knex, id: number): Promise<UserRecord | null> {
  const row: UserRow | undefined = await db('users').where({ id }).first();
  return row ? toRecord(row) : null;
}

/** Finds a user by alias, or throws an error that names the alias and the command that lists users. */
export async function requireUserByAlias(db: Knex, alias: string): Promise<UserRecord> {
  const user = await findUserByAlias(db, alias);
  if (user === null) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `User "${alias}" does not exist: check the alias with \`mailqueue users list\`.`, { alias });
  }
  return user;
}

/**
 * Changes a user's email, name, role or active flag; the alias never changes because
 * views and replies refer to it.
 *
 * @throws MailqueueError (InvalidConfiguration) listing every invalid field, or when the user does not exist.
 */
export async function updateUser(db: Knex, userId: number, changes: UserChanges): Promise<UserRecord> {
  const errors = [
    ...(changes.email === undefined ? [] : emailErrors(changes.email)),
    ...nameErrors(changes.name),
    ...roleErrors(changes.role),
  ];
  if (errors.length > 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Changes to user ${userId} are invalid:\n  ${errors.join('\n  ')}`, { userId, errors });
  }

  const update: Record<string, unknown> = {};
  if (changes.email !== undefined) update.email = changes.email.trim();
  if (changes.name !== undefined) update.name = changes.name.trim();
  if (changes.role !== undefined) update.role = changes.role;
  if (changes.active !== undefined) update.active = changes.active;

  const query = db('users').where({ id: userId });
  const [row] = Object.keys(update).length > 0 ? await query.update(update).returning<UserRow[]>('*') : await query.select<UserRow[]>('*');
  if (row === undefined) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `User ${userId} does not exist: check the user with \`mailqueue users list\`.`, { userId });
  }
  return toRecord(row);
}

/** Marks a user inactive: their API tokens stop working and they see no tickets. Their history stays. */
export async function deactivateUser(db: Knex, userId: number): Promise<UserRecord> {
  return updateUser(db, userId, { active: false });
}

/**
 * Lets a user see the tickets of a category; granting it twice changes nothing.
 *
 * @throws MailqueueError (InvalidConfiguration) when the category does not exist.
 */
export async function grantCategory(db: Knex, userId: number, category: string): Promise<void> {
  const name = category.trim();
  const exists = await db('categories').where({ name }).first('id');
  if (exists === undefined) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Category ${JSON.stringify(category)} does not exist: check its spelling (names are case-sensitive) or create the category first.`, { category });
  }

  try {
    await db('user_category_rights').insert({ user_id: userId, category: name }).onConflict(['user_id', 'category']).ignore();
  } catch (error) {
    // A foreign key violation here means the user or the category vanished meanwhile.
    if ((error as { code?: string }).code === '23503') {
      throw new MailqueueError(FailureType.InvalidConfiguration, `Cannot grant ${JSON.stringify(category)} to user ${userId}: the user or the category no longer exists.`, { userId, category }, { cause: error });
    }
    throw error;
  }
}

/** Takes a category right away; returns false when the user did not have it. Applies to the next query at once. */
export async function revokeCategory(db: Knex, userId: number, category: string): Promise<boolean> {
  const removed = await db('user_category_rights').where({ user_id: userId, category: category.trim() }).delete();
  return removed > 0;
}

/** Names of the categories a user may see, sorted. */
export async function listUserCategories(db: Knex, userId: number): Promise<string[]> {
  const rows: Array<{ category: string }> = await db('user_category_rights').where({ user_id: userId }).orderBy('category').select('category');
  return rows.map((row) => row.category);
}
