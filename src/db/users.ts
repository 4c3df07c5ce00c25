import type { Knex } from 'knex';

import { isEmailAddress } from '../domain/queue-config.js';
import { FailureType, MailqueueError } from '../errors.js';

/** An agent: a person who writes replies and whose name may appear in sender-info and signatures. */
export interface UserRecord {
  id: number;
  /** Lower case; unique without regard to case. */
  alias: string;
  name: string;
  email: string;
  createdAt: string;
}

export interface UserInput {
  alias: string;
  email: string;
  name?: string;
}

interface UserRow {
  id: number;
  alias: string;
  name: string;
  email: string;
  created_at: Date;
}

const aliasPattern = /^[a-z0-9._-]+$/;
const maxAliasLength = 100;
const maxNameLength = 200;

function toRecord(row: UserRow): UserRecord {
  return { id: row.id, alias: row.alias, name: row.name, email: row.email, createdAt: row.created_at.toISOString() };
}

/** Returns the problems with a new user; empty when it can be stored. The alias is compared in lower case. */
export function validateUserInput(input: UserInput): string[] {
  const errors: string[] = [];
  const alias = input.alias.trim().toLowerCase();

  if (!aliasPattern.test(alias) || alias.length > maxAliasLength) {
    errors.push(`alias ${JSON.stringify(input.alias)} is invalid: use 1 to ${maxAliasLength} letters a-z, digits, ".", "_" or "-", such as "jan.novak".`);
  }
  if (!isEmailAddress(input.email.trim())) {
    errors.push(`email ${JSON.stringify(input.email)} is invalid: use a mail address such as jan.novak@example.com.`);
  }
  if ((input.name ?? '').length > maxNameLength || /[\u0000-\u001f\u007f]/.test(input.name ?? '')) {
    errors.push(`name ${JSON.stringify(input.name)} is invalid: use at most ${maxNameLength} printable characters on one line.`);
  }

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
    .insert({ alias, name: (input.name ?? '').trim(), email: input.email.trim() })
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

export async function findUserById(db: Knex, id: number): Promise<UserRecord | null> {
  const row: UserRow | undefined = await db('users').where({ id }).first();
  return row ? toRecord(row) : null;
}
