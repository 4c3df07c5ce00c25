import type { Knex } from 'knex';

import { OWNER_ME, OWNER_NONE, parseViewDefinition, type ViewDefinition } from '../domain/view-definition.js';
import { FailureType, MailqueueError } from '../errors.js';
import { userRoles, type UserRole } from './users.js';

/** Someone a view is shared with: one user, or every user with a role. */
export type ViewShareTarget = { userId: number } | { role: UserRole };

export interface ViewShare {
  userId: number | null;
  /** Alias of `userId`, for display. */
  alias: string | null;
  role: UserRole | null;
}

export interface ViewRecord {
  id: number;
  name: string;
  /** Null for a view created without owner, or whose owner was deleted. */
  ownerUserId: number | null;
  ownerAlias: string | null;
  definition: ViewDefinition;
  shares: ViewShare[];
  createdAt: string;
  updatedAt: string;
}

interface ViewRow {
  id: number;
  name: string;
  owner_user_id: number | null;
  owner_alias: string | null;
  definition: ViewDefinition;
  created_at: Date;
  updated_at: Date;
}

const maxNameLength = 200;

function invalid(message: string, details: Record<string, unknown>): MailqueueError {
  return new MailqueueError(FailureType.InvalidConfiguration, message, details);
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > maxNameLength || /[\u0000-\u001f\u007f]/.test(trimmed)) {
    throw invalid(`View name ${JSON.stringify(name)} is invalid: use 1 to ${maxNameLength} printable characters, such as "Leads".`, { name });
  }
  return trimmed;
}

/**
 * Validates a definition and checks that the owner aliases it names exist, so a typo is
 * reported now rather than showing an empty view later.
 */
async function checkDefinition(db: Knex, definition: unknown): Promise<ViewDefinition> {
  const parsed = parseViewDefinition(definition);
  if (parsed.value === null) {
    throw invalid(`View definition is invalid:\n  ${parsed.errors.join('\n  ')}`, { errors: parsed.errors });
  }

  const aliases = (parsed.value.filters.owners ?? []).filter((owner) => owner !== OWNER_ME && owner !== OWNER_NONE);
  if (aliases.length > 0) {
    const found = new Set((await db('users').whereIn('alias', aliases).select('alias')).map((row: { alias: string }) => row.alias));
    const missing = aliases.filter((alias) => !found.has(alias));
    if (missing.length > 0) {
      throw invalid(`View definition is invalid:\n  filters.owners: no user has the alias ${missing.map((alias) => JSON.stringify(alias)).join(', ')}; check \`mailqueue users list\`, or use "${OWNER_ME}" or "${OWNER_NONE}"`, { missing });
    }
  }
  return parsed.value;
}

function baseQuery(db: Knex): Knex.QueryBuilder {
  return db('views').leftJoin('users as owner', 'owner.id', 'views.owner_user_id').select('views.*', 'owner.alias as owner_alias');
}

async function toRecords(db: Knex, rows: ViewRow[]): Promise<ViewRecord[]> {
  const shares: Array<{ view_id: number; user_id: number | null; alias: string | null; role: UserRole | null }> = await db('view_shares')
    .leftJoin('users', 'users.id', 'view_shares.user_id')
    .whereIn('view_shares.view_id', rows.map((row) => row.id))
    .orderBy('view_shares.id')
    .select('view_shares.view_id', 'view_shares.user_id', 'users.alias', 'view_shares.role');
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    ownerUserId: row.owner_user_id,
    ownerAlias: row.owner_alias,
    definition: row.definition,
    shares: shares.filter((share) => share.view_id === row.id).map((share) => ({ userId: share.user_id, alias: share.alias, role: share.role })),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }));
}

/** Restricts a views query to those the user may open: owned, shared with them, or shared with their active role. */
function openableBy(db: Knex, query: Knex.QueryBuilder, userId: number): Knex.QueryBuilder {
  return query.where((where) =>
    where
      .where('views.owner_user_id', userId)
      .orWhereExists(db('view_shares').whereRaw('view_shares.view_id = views.id').where('view_shares.user_id', userId))
      .orWhereExists(
        db('view_shares')
          .join('users as viewer', 'viewer.role', 'view_shares.role')
          .whereRaw('view_shares.view_id = views.id')
          .where('viewer.id', userId),
      ),
  );
}

/**
 * Saves a view. `definition` is validated here (see src/domain/view-definition.ts).
 *
 * @throws MailqueueError (InvalidConfiguration) naming every invalid field.
 */
export async function createView(db: Knex, input: { name: string; ownerUserId: number | null; definition: unknown }): Promise<ViewRecord> {
  const name = checkName(input.name);
  const definition = await checkDefinition(db, input.definition);

  const [row] = await db('views')
    .insert({ name, owner_user_id: input.ownerUserId, definition: JSON.stringify(definition) })
    .returning<Array<{ id: number }>>('id');
  return (await findViewById(db, row.id)) as ViewRecord;
}

/**
 * Renames a view or replaces its definition. Who may do so is the caller's decision.
 *
 * @throws MailqueueError (InvalidConfiguration) when a field is invalid or the view does not exist.
 */
export async function updateView(db: Knex, viewId: number, changes: { name?: string; definition?: unknown }): Promise<ViewRecord> {
  const update: Record<string, unknown> = { updated_at: db.fn.now() };
  if (changes.name !== undefined) update.name = checkName(changes.name);
  if (changes.definition !== undefined) update.definition = JSON.stringify(await checkDefinition(db, changes.definition));

  const updated = await db('views').where({ id: viewId }).update(update);
  if (updated === 0) throw invalid(`View ${viewId} does not exist: run \`mailqueue views list --as <alias>\`.`, { viewId });
  return (await findViewById(db, viewId)) as ViewRecord;
}

/** Deletes a view with its shares; returns false when it did not exist. */
export async function deleteView(db: Knex, viewId: number): Promise<boolean> {
  const removed = await db('views').where({ id: viewId }).delete();
  return removed > 0;
}

/** Finds a view without checking who may open it; for administration, never for a user's request. */
export async function findViewById(db: Knex, viewId: number): Promise<ViewRecord | null> {
  const rows: ViewRow[] = await baseQuery(db).where('views.id', viewId);
  return rows.length === 0 ? null : (await toRecords(db, rows))[0];
}

/** Lists the views a user may open, by name then id. An inactive user may open none. */
export async function listViewsForUser(db: Knex, user: { id: number }): Promise<ViewRecord[]> {
  const query = baseQuery(db).whereExists(db('users').where({ id: user.id, active: true })).orderBy([{ column: 'views.name' }, { column: 'views.id' }]);
  const rows: ViewRow[] = await openableBy(db, query, user.id);
  return toRecords(db, rows);
}

/** Returns the view when the user may open it. Returns null both when it does not exist and when the user may not open it. */
export async function findViewForUser(db: Knex, user: { id: number }, viewId: number): Promise<ViewRecord | null> {
  const query = baseQuery(db).where('views.id', viewId).whereExists(db('users').where({ id: user.id, active: true }));
  const rows: ViewRow[] = await openableBy(db, query, user.id);
  return rows.length === 0 ? null : (await toRecords(db, rows))[0];
}

/**
 * Shares a view with a user or a role; sharing twice changes nothing.
 *
 * @throws MailqueueError (InvalidConfiguration) for an unknown role, user or view.
 */
export async function shareView(db: Knex, viewId: number, target: ViewShareTarget): Promise<void> {
  if ('role' in target && !(userRoles as readonly string[]).includes(target.role)) {
    throw invalid(`Role ${JSON.stringify(target.role)} is invalid: use ${userRoles.join(' or ')}.`, { role: target.role });
  }

  const row = 'role' in target ? { view_id: viewId, role: target.role } : { view_id: viewId, user_id: target.userId };
  try {
    // The partial unique indexes on (view_id, user_id) and (view_id, role) make a repeat a no-op.
    await db('view_shares').insert(row).onConflict().ignore();
  } catch (error) {
    if ((error as { code?: string }).code === '23503') {
      throw invalid(`Cannot share view ${viewId}: the view or the user does not exist.`, { viewId, target });
    }
    throw error;
  }
}

/** Takes a share away; returns false when there was none. Users who own the view keep it. */
export async function unshareView(db: Knex, viewId: number, target: ViewShareTarget): Promise<boolean> {
  const where = 'role' in target ? { view_id: viewId, role: target.role } : { view_id: viewId, user_id: target.userId };
  const removed = await db('view_shares').where(where).delete();
  return removed > 0;
}
