import type { Knex } from 'knex';

import { FailureType, MailqueueError } from '../errors.js';

/** A helpdesk: a named group of queues, e.g. one per country or product line. */
export interface HelpdeskRecord {
  id: number;
  name: string;
  description: string;
  /** Numbers of the queues in the helpdesk, ascending; deleted queues left out. */
  queueNumbers: number[];
  createdAt: string;
}

interface HelpdeskRow {
  id: number;
  name: string;
  description: string;
  created_at: Date;
}

const maxNameLength = 200;

async function withQueues(db: Knex, rows: HelpdeskRow[]): Promise<HelpdeskRecord[]> {
  const queues: Array<{ helpdesk_id: number; number: number }> = await db('queues')
    .whereIn('helpdesk_id', rows.map((row) => row.id))
    .whereNull('deleted_at')
    .orderBy('number')
    .select('helpdesk_id', 'number');
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    description: row.description,
    queueNumbers: queues.filter((queue) => queue.helpdesk_id === row.id).map((queue) => queue.number),
    createdAt: row.created_at.toISOString(),
  }));
}

/**
 * Creates a helpdesk.
 *
 * @throws MailqueueError (InvalidConfiguration) when the name is empty, too long or taken.
 */
export async function createHelpdesk(db: Knex, input: { name: string; description?: string }): Promise<HelpdeskRecord> {
  const name = input.name.trim();
  if (name.length === 0 || name.length > maxNameLength || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Helpdesk name ${JSON.stringify(input.name)} is invalid: use 1 to ${maxNameLength} printable characters, such as "UK".`, { name: input.name });
  }

  const [row] = await db('helpdesks')
    .insert({ name, description: input.description ?? '' })
    .onConflict('name')
    .ignore()
    .returning<HelpdeskRow[]>('*');
  if (row === undefined) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Helpdesk "${name}" already exists: choose another name, or run \`mailqueue helpdesks list\`.`, { name });
  }
  return (await withQueues(db, [row]))[0];
}

/** Lists helpdesks by name, each with its queue numbers. */
export async function listHelpdesks(db: Knex): Promise<HelpdeskRecord[]> {
  const rows: HelpdeskRow[] = await db('helpdesks').orderBy('name').select('*');
  return withQueues(db, rows);
}

/** Finds a helpdesk by its exact name. */
export async function findHelpdeskByName(db: Knex, name: string): Promise<HelpdeskRecord | null> {
  const row: HelpdeskRow | undefined = await db('helpdesks').where({ name: name.trim() }).first();
  return row === undefined ? null : (await withQueues(db, [row]))[0];
}

/** Finds a helpdesk by id. */
export async function findHelpdeskById(db: Knex, id: number): Promise<HelpdeskRecord | null> {
  const row: HelpdeskRow | undefined = await db('helpdesks').where({ id }).first();
  return row === undefined ? null : (await withQueues(db, [row]))[0];
}

/** Deletes a helpdesk; its queues stay and belong to no helpdesk. Returns false when it did not exist. */
export async function deleteHelpdesk(db: Knex, id: number): Promise<boolean> {
  const removed = await db('helpdesks').where({ id }).delete();
  return removed > 0;
}

/**
 * Puts a queue into a helpdesk, or takes it out with `helpdeskId` null. A queue is in
 * at most one helpdesk, so this moves it from any other.
 *
 * @throws MailqueueError (QueueNotFound) when the queue does not exist; (InvalidConfiguration) when the helpdesk does not.
 */
export async function assignQueueToHelpdesk(db: Knex, queueId: number, helpdeskId: number | null): Promise<void> {
  if (helpdeskId !== null && (await db('helpdesks').where({ id: helpdeskId }).first('id')) === undefined) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Helpdesk ${helpdeskId} does not exist: run \`mailqueue helpdesks list\`.`, { helpdeskId });
  }
  const updated = await db('queues').where({ id: queueId }).update({ helpdesk_id: helpdeskId });
  if (updated === 0) {
    throw new MailqueueError(FailureType.QueueNotFound, `Queue ${queueId} does not exist: run \`mailqueue queue list\`.`, { queueId });
  }
}
