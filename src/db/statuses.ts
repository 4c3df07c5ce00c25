import type { Knex } from 'knex';
import { FailureType, MailqueueError } from '../errors.js';

/** A ticket status that may be set, such as `open` or `pending`. */
export interface StatusRecord {
  id: number;
  name: string;
  description: string;
  createdAt: string;
}

interface StatusRow {
  id: number;
  name: string;
  description: string;
  created_at: Date;
}

// Lower-case words joined by "-" or "_", so a status reads the same in the API, the CLI and views.
const statusNamePattern = /^[a-z][a-z0-9_-]{0,49}$/;

function toRecord(row: StatusRow): StatusRecord {
  return { id: row.id, name: row.name, description: row.description, createdAt: row.created_at.toISOString() };
}

/** Lists the statuses ordered by id, so the seeded ones (new, open, pending, solved, closed) come first. */
export async function listStatuses(db: Knex): Promise<StatusRecord[]> {
  const rows: StatusRow[] = await db('statuses').orderBy('id').select('*');
  return rows.map(toRecord);
}

export async function findStatusByName(db: Knex, name: string): Promise<StatusRecord | null> {
  const row: StatusRow | undefined = await db('statuses').where({ name }).first();
  return row ? toRecord(row) : null;
}

/**
 * Stores a new status.
 *
 * @throws MailqueueError (InvalidConfiguration) when the name is not lower-case letters,
 *   digits, "-" or "_" (at most 50), or is taken.
 */
export async function createStatus(db: Knex, input: { name: string; description?: string }): Promise<StatusRecord> {
  if (!statusNamePattern.test(input.name)) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Status name ${JSON.stringify(input.name)} is invalid: use 1 to 50 lower-case letters, digits, "-" or "_", starting with a letter, such as "waiting-for-parts"`, { name: input.name });
  }

  const [row] = await db('statuses')
    .insert({ name: input.name, description: input.description ?? '' })
    .onConflict('name')
    .ignore()
    .returning<StatusRow[]>('*');
  if (row === undefined) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Status "${input.name}" already exists: choose another name`, { name: input.name });
  }
  return toRecord(row);
}
