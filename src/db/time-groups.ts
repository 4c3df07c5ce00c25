import type { Knex } from 'knex';

import { validateTimeGroup, type TimeGroup } from '../domain/working-hours.js';
import { FailureType, MailqueueError } from '../errors.js';
import { validateRecordName } from './templates.js';

/** Stored working hours that queues refer to by name. */
export interface TimeGroupRecord {
  id: number;
  name: string;
  definition: TimeGroup;
  createdAt: string;
}

/** A time group file (`mailqueue time-groups create --file g.json`): a name plus the TimeGroup fields. */
export interface TimeGroupInput extends TimeGroup {
  name: string;
}

interface TimeGroupRow {
  id: number;
  name: string;
  definition: TimeGroup;
  created_at: Date;
}

function toRecord(row: TimeGroupRow): TimeGroupRecord {
  return { id: row.id, name: row.name, definition: row.definition, createdAt: row.created_at.toISOString() };
}

/**
 * Validates and stores a new time group. Only `timeZone`, `weekly` and `exceptions` are
 * stored as the definition.
 *
 * @throws MailqueueError (InvalidConfiguration) listing every problem, or when the name is taken.
 */
export async function createTimeGroup(db: Knex, input: TimeGroupInput): Promise<TimeGroupRecord> {
  const definition: TimeGroup = { timeZone: input.timeZone, weekly: input.weekly, exceptions: input.exceptions };
  const errors = [...validateRecordName(input.name, 'time group'), ...validateTimeGroup(definition)];
  if (errors.length > 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Time group ${JSON.stringify(input.name)} is invalid:\n  ${errors.join('\n  ')}`, { name: input.name, errors });
  }

  if (await findTimeGroupByName(db, input.name)) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Time group "${input.name}" already exists: choose another name, or run \`mailqueue time-groups list\`.`, { name: input.name });
  }

  const [row] = await db('time_groups')
    .insert({ name: input.name, definition: JSON.stringify(definition) })
    .returning<TimeGroupRow[]>('*');
  return toRecord(row);
}

/** Lists time groups ordered by name. */
export async function listTimeGroups(db: Knex): Promise<TimeGroupRecord[]> {
  const rows: TimeGroupRow[] = await db('time_groups').orderBy('name').select('*');
  return rows.map(toRecord);
}

export async function findTimeGroupByName(db: Knex, name: string): Promise<TimeGroupRecord | null> {
  const row: TimeGroupRow | undefined = await db('time_groups').where({ name }).first();
  return row ? toRecord(row) : null;
}

export async function findTimeGroupById(db: Knex, id: number): Promise<TimeGroupRecord | null> {
  const row: TimeGroupRow | undefined = await db('time_groups').where({ id }).first();
  return row ? toRecord(row) : null;
}
