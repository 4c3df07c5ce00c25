import type { Knex } from 'knex';

import { defaultViewOrder, OWNER_ME, OWNER_NONE, type ViewFilters, type ViewOrder, type ViewOrderField } from '../domain/view-definition.js';
import { FailureType, MailqueueError } from '../errors.js';
import type { UserRole } from './users.js';
import { findViewForUser } from './views.js';

/**
 * The one place category rights are applied. A user sees a ticket when its category is
 * one they were granted. Admins also see tickets without a category. An agent also sees an
 * uncategorised ticket while an email activity on it is offered to or open with them.
 * Inactive users see nothing.
 * Rights are read from the database on every call, so a grant or a revocation applies to
 * the next request.
 */

/** The requesting user. Role, active flag and categories are reloaded from the database on every call. */
export interface Viewer {
  id: number;
}

/** A user's rights as loaded for one request. */
export interface UserRights {
  userId: number;
  role: UserRole;
  active: boolean;
  categories: string[];
  /** Uncategorised tickets with an email activity offered to or open with the user, ascending. */
  activityTicketIds: number[];
}

/** A ticket as listed to a user who may see it. */
export interface VisibleTicket {
  id: number;
  number: number;
  queueId: number;
  queueNumber: number;
  title: string;
  category: string | null;
  status: string;
  priority: string;
  stage: string | null;
  ownerUserId: number | null;
  ownerAlias: string | null;
  extraStatuses: string[];
  customFields: Record<string, unknown>;
  requesterAddress: string | null;
  requesterName: string;
  createdAt: string;
  updatedAt: string;
  lastActivityAt: string;
}

export interface TicketListOptions {
  /** Apply this saved view's filters and order; the user must be allowed to open it. */
  viewId?: number;
  /** More filters, combined with the view's (both must match). Validate with parseViewFilters first. */
  filters?: ViewFilters;
  /** Replaces the view's order when given and not empty. Validate with parseViewOrder first. */
  sort?: ViewOrder;
  /** 1-based page number; default 1. */
  page?: number;
  /** Tickets per page, 1 to MAX_PAGE_SIZE; default DEFAULT_PAGE_SIZE. */
  pageSize?: number;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** Error raised by listVisibleTickets when the view does not exist or the user may not open it. Both cases give the same error. */
export class ViewNotFoundError extends MailqueueError {
  constructor(viewId: number) {
    super(FailureType.InvalidConfiguration, `View ${viewId} does not exist or is not shared with you: run \`mailqueue views list --as <alias>\`.`, { viewId });
    this.name = 'ViewNotFoundError';
  }
}

interface TicketAccessRow {
  id: number;
  number: number;
  queue_id: number;
  queue_number: number;
  title: string;
  category: string | null;
  status: string;
  priority: string;
  stage: string | null;
  owner_user_id: number | null;
  owner_alias: string | null;
  extra_statuses: string[];
  custom_fields: Record<string, unknown>;
  requester_address: string | null;
  requester_name: string;
  created_at: Date;
  updated_at: Date;
  last_activity_at: Date;
  total?: number;
}

function toVisibleTicket(row: TicketAccessRow): VisibleTicket {
  return {
    id: row.id,
    number: row.number,
    queueId: row.queue_id,
    queueNumber: row.queue_number,
    title: row.title,
    category: row.category,
    status: row.status,
    priority: row.priority,
    stage: row.stage,
    ownerUserId: row.owner_user_id,
    ownerAlias: row.owner_alias,
    extraStatuses: row.extra_statuses,
    customFields: row.custom_fields,
    requesterAddress: row.requester_address,
    requesterName: row.requester_name,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    lastActivityAt: row.last_activity_at.toISOString(),
  };
}

/**
 * Loads a user's role, active flag and granted categories, and the uncategorised tickets of
 * the email activities offered to or open with them. Returns null when the user does not exist.
 */
export async function loadUserRights(db: Knex, userId: number): Promise<UserRights | null> {
  const row: { role: UserRole; active: boolean; categories: string[] } | undefined = await db('users')
    .leftJoin('user_category_rights as rights', 'rights.user_id', 'users.id')
    .where('users.id', userId)
    .groupBy('users.id')
    .first(
      'users.role',
      'users.active',
      db.raw(`coalesce(array_agg(rights.category ORDER BY rights.category) FILTER (WHERE rights.category IS NOT NULL), '{}') AS categories`),
    );
  if (row === undefined) return null;

  const activityTickets: Array<{ ticket_id: string | number }> = await db('email_activities as a')
    .join('tickets', 'tickets.id', 'a.ticket_id')
    .where('a.agent_user_id', userId)
    .whereIn('a.state', ['offered', 'open'])
    .whereNull('tickets.category')
    .orderBy('a.ticket_id')
    .select('a.ticket_id');
  return { userId, role: row.role, active: row.active, categories: row.categories, activityTicketIds: activityTickets.map((activity) => Number(activity.ticket_id)) };
}

/** True when the rights let the user see anything at all; saves a query that would return nothing. */
function seesAnything(rights: UserRights | null): rights is UserRights {
  return rights !== null && rights.active && (rights.categories.length > 0 || rights.role === 'admin' || rights.activityTicketIds.length > 0);
}

/**
 * Restricts a query that has `tickets` in it to the tickets the rights allow. The granted
 * categories and the activity tickets are bound as values, not as subqueries, so the planner
 * can estimate how selective they are and combine the category index with the primary key.
 */
function restrictToRights(query: Knex.QueryBuilder, rights: UserRights): Knex.QueryBuilder {
  if (rights.role === 'admin') {
    return query.where((where) => {
      if (rights.categories.length > 0) where.whereIn('tickets.category', rights.categories);
      where.orWhereNull('tickets.category');
    });
  }
  return query.where((where) => {
    where.whereIn('tickets.category', rights.categories);
    if (rights.activityTicketIds.length > 0) where.orWhereIn('tickets.id', rights.activityTicketIds);
  });
}

/** Adds a view's filters to a tickets query; "me" among the owners means `viewerId`. */
function applyFilters(db: Knex, query: Knex.QueryBuilder, filters: ViewFilters, viewerId: number): void {
  if (filters.categories) query.whereIn('tickets.category', filters.categories);
  // NOTE: only the main status is matched. A name in extra_statuses (such as "vip") does not match a statuses filter.
  if (filters.statuses) query.whereIn('tickets.status', filters.statuses);
  if (filters.stages) query.whereIn('tickets.stage', filters.stages);
  if (filters.priorities) query.whereIn('tickets.priority', filters.priorities);

  if (filters.owners) {
    const owners = filters.owners;
    const aliases = owners.filter((owner) => owner !== OWNER_ME && owner !== OWNER_NONE);
    query.where((where) => {
      where.whereRaw('false');
      if (owners.includes(OWNER_ME)) where.orWhere('tickets.owner_user_id', viewerId);
      if (owners.includes(OWNER_NONE)) where.orWhereNull('tickets.owner_user_id');
      if (aliases.length > 0) where.orWhereIn('tickets.owner_user_id', db('users').whereIn('alias', aliases).select('id'));
    });
  }

  if (filters.queues) query.whereIn('tickets.queue_id', db('queues').whereIn('number', filters.queues).select('id'));

  for (const [name, expected] of Object.entries(filters.customFields ?? {})) {
    const accepted = Array.isArray(expected) ? expected : [expected];
    // Containment (@>) is what the GIN index on custom_fields serves.
    query.where((where) => {
      for (const value of accepted) where.orWhereRaw('tickets.custom_fields @> ?::jsonb', [JSON.stringify({ [name]: value })]);
    });
  }

  // The database clock, not the caller's, decides the age, so every user sees the same cut-off.
  if (filters.idleForAtLeastSeconds !== undefined) query.whereRaw('tickets.last_activity_at <= now() - make_interval(secs => ?)', [filters.idleForAtLeastSeconds]);
  if (filters.idleForAtMostSeconds !== undefined) query.whereRaw('tickets.last_activity_at >= now() - make_interval(secs => ?)', [filters.idleForAtMostSeconds]);

  if (filters.createdFrom !== undefined) query.where('tickets.created_at', '>=', filters.createdFrom);
  if (filters.createdTo !== undefined) query.where('tickets.created_at', '<', filters.createdTo);
  if (filters.updatedFrom !== undefined) query.where('tickets.updated_at', '>=', filters.updatedFrom);
  if (filters.updatedTo !== undefined) query.where('tickets.updated_at', '<', filters.updatedTo);
}

const orderExpressions: Record<ViewOrderField, string> = {
  number: 'tickets.number',
  createdAt: 'tickets.created_at',
  updatedAt: 'tickets.updated_at',
  lastActivityAt: 'tickets.last_activity_at',
  priority: `CASE tickets.priority WHEN 'low' THEN 0 WHEN 'normal' THEN 1 WHEN 'high' THEN 2 WHEN 'urgent' THEN 3 END`,
  status: 'tickets.status',
  category: 'tickets.category',
};

/** Orders by the given fields, empty values last, then by id so pages never overlap or skip. */
function applyOrder(query: Knex.QueryBuilder, order: ViewOrder): void {
  for (const entry of order) {
    query.orderByRaw(`${orderExpressions[entry.field]} ${entry.direction === 'desc' ? 'DESC' : 'ASC'} NULLS LAST`);
  }
  query.orderBy('tickets.id', 'asc');
}

function ticketsQuery(db: Knex): Knex.QueryBuilder {
  return db('tickets')
    .join('queues', 'queues.id', 'tickets.queue_id')
    .leftJoin('users as owner', 'owner.id', 'tickets.owner_user_id')
    .select(
      'tickets.id',
      'tickets.number',
      'tickets.queue_id',
      'queues.number as queue_number',
      'tickets.title',
      'tickets.category',
      'tickets.status',
      'tickets.priority',
      'tickets.stage',
      'tickets.owner_user_id',
      'owner.alias as owner_alias',
      'tickets.extra_statuses',
      'tickets.custom_fields',
      'tickets.requester_address',
      'tickets.requester_name',
      'tickets.created_at',
      'tickets.updated_at',
      'tickets.last_activity_at',
    );
}

function checkPaging(options: TicketListOptions): { page: number; pageSize: number } {
  const page = options.page ?? 1;
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(page) || page < 1) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Page ${page} is invalid: use a whole number of 1 or more.`, { page });
  }
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Page size ${pageSize} is invalid: use a whole number from 1 to ${MAX_PAGE_SIZE}.`, { pageSize });
  }
  return { page, pageSize };
}

/**
 * Lists one page of the tickets a user may see, optionally through a saved view and
 * extra filters. Filtering, ordering and paging all run in one SQL statement; `total`
 * counts every matching ticket, not just this page.
 *
 * @throws ViewNotFoundError when `viewId` names a view the user may not open (or none).
 * @throws MailqueueError (InvalidConfiguration) for a bad page or page size.
 */
export async function listVisibleTickets(db: Knex, user: Viewer, options: TicketListOptions = {}): Promise<{ tickets: VisibleTicket[]; total: number }> {
  const { page, pageSize } = checkPaging(options);

  const view = options.viewId === undefined ? null : await findViewForUser(db, user, options.viewId);
  if (options.viewId !== undefined && view === null) throw new ViewNotFoundError(options.viewId);

  const rights = await loadUserRights(db, user.id);
  if (!seesAnything(rights)) return { tickets: [], total: 0 };

  const query = restrictToRights(ticketsQuery(db), rights);
  if (view !== null) applyFilters(db, query, view.definition.filters, user.id);
  if (options.filters !== undefined) applyFilters(db, query, options.filters, user.id);

  let order = defaultViewOrder;
  if (options.sort !== undefined && options.sort.length > 0) order = options.sort;
  else if (view !== null && view.definition.order.length > 0) order = view.definition.order;
  const countQuery = query.clone();
  applyOrder(query, order);

  const rows: TicketAccessRow[] = await query.select(db.raw('count(*) OVER () AS total')).limit(pageSize).offset((page - 1) * pageSize);
  if (rows.length > 0) return { tickets: rows.map(toVisibleTicket), total: Number(rows[0].total) };

  // A page past the end has no row to carry the window count.
  const counted = await countQuery.clearSelect().count<Array<{ count: string | number }>>('* as count');
  return { tickets: [], total: Number(counted[0].count) };
}

/** Returns the ticket when the user may see it. Returns null both when it does not exist and when it is forbidden. */
export async function findVisibleTicket(db: Knex, user: Viewer, ticketNumber: number): Promise<VisibleTicket | null> {
  const rights = await loadUserRights(db, user.id);
  if (!seesAnything(rights)) return null;

  const row: TicketAccessRow | undefined = await restrictToRights(ticketsQuery(db), rights).where('tickets.number', ticketNumber).first();
  return row === undefined ? null : toVisibleTicket(row);
}

/** True when the ticket exists and the user may see it. */
export async function isTicketVisible(db: Knex, user: Viewer, ticketId: number): Promise<boolean> {
  const rights = await loadUserRights(db, user.id);
  if (!seesAnything(rights)) return false;

  const row = await restrictToRights(db('tickets'), rights).where('tickets.id', ticketId).first('tickets.id');
  return row !== undefined;
}

/** Stored message with its raw bytes, as the API serves it for download. */
/** Returns the ids among `ticketIds` whose tickets the user may see, in one query; unknown ids are left out. */
export async function visibleTicketIds(db: Knex, user: Viewer, ticketIds: number[]): Promise<Set<number>> {
  if (ticketIds.length === 0) return new Set();
  const rights = await loadUserRights(db, user.id);
  if (!seesAnything(rights)) return new Set();

  const rows: Array<{ id: number }> = await restrictToRights(db('tickets'), rights).whereIn('tickets.id', [...new Set(ticketIds)]).select('tickets.id');
  return new Set(rows.map((row) => row.id));
}

export interface VisibleMessage {
  id: number;
  ticketId: number;
  ticketNumber: number;
  direction: string;
  messageId: string;
  subject: string;
  raw: Buffer;
  rawSize: number;
  createdAt: string;
}

/**
 * Returns a message with its raw bytes when the user may see its ticket. Returns null when
 * the message does not exist, belongs to no ticket (held, duplicate) or its ticket is forbidden.
 */
export async function findVisibleMessage(db: Knex, user: Viewer, messageRowId: number): Promise<VisibleMessage | null> {
  const rights = await loadUserRights(db, user.id);
  if (!seesAnything(rights)) return null;

  const row: { id: number; ticket_id: number; ticket_number: number; direction: string; message_id: string; subject: string; raw: Buffer; raw_size: number; created_at: Date } | undefined =
    await restrictToRights(db('messages').join('tickets', 'tickets.id', 'messages.ticket_id'), rights)
      .where('messages.id', messageRowId)
      .first('messages.id', 'messages.ticket_id', 'tickets.number as ticket_number', 'messages.direction', 'messages.message_id', 'messages.subject', 'messages.raw', 'messages.raw_size', 'messages.created_at');
  if (row === undefined) return null;

  return {
    id: row.id,
    ticketId: row.ticket_id,
    ticketNumber: row.ticket_number,
    direction: row.direction,
    messageId: row.message_id,
    subject: row.subject,
    raw: row.raw,
    rawSize: row.raw_size,
    createdAt: row.created_at.toISOString(),
  };
}

/** An attachment with its content, as the API serves it for download. */
export interface VisibleAttachment {
  id: number;
  messageRowId: number;
  ticketId: number;
  ticketNumber: number;
  filename: string;
  contentType: string;
  size: number;
  contentId: string | null;
  inline: boolean;
  sha256: string;
  content: Buffer;
}

/** Returns an attachment with its content when the user may see its message's ticket, otherwise null, as for a missing one. */
export async function findVisibleAttachment(db: Knex, user: Viewer, attachmentId: number): Promise<VisibleAttachment | null> {
  const rights = await loadUserRights(db, user.id);
  if (!seesAnything(rights)) return null;

  const row: { id: number; message_row_id: number; ticket_id: number; ticket_number: number; filename: string; content_type: string; size: number; content_id: string | null; inline: boolean; sha256: string; content: Buffer } | undefined =
    await restrictToRights(db('attachments').join('messages', 'messages.id', 'attachments.message_row_id').join('tickets', 'tickets.id', 'messages.ticket_id'), rights)
      .where('attachments.id', attachmentId)
      .first('attachments.id', 'attachments.message_row_id', 'messages.ticket_id', 'tickets.number as ticket_number', 'attachments.filename', 'attachments.content_type', 'attachments.size', 'attachments.content_id', 'attachments.inline', 'attachments.sha256', 'attachments.content');
  if (row === undefined) return null;

  return {
    id: row.id,
    messageRowId: row.message_row_id,
    ticketId: row.ticket_id,
    ticketNumber: row.ticket_number,
    filename: row.filename,
    contentType: row.content_type,
    size: row.size,
    contentId: row.content_id,
    inline: row.inline,
    sha256: row.sha256,
    content: row.content,
  };
}
