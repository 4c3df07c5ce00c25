import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { activitiesNoAgentMayWork, planOffers, type DispatchCandidate, type WaitingActivity } from '../domain/dispatch.js';
import { FailureType, MailqueueError } from '../errors.js';

/**
 * Email activities: the unit of work an agent is offered. Every state change is one
 * transaction that checks the state it starts from, so a retry, a crash or two queues
 * dispatching at once change nothing that committed. docs/agents-and-activities.md has the rules.
 */

export const activityStates = ['waiting', 'offered', 'open', 'closed'] as const;
export type ActivityState = (typeof activityStates)[number];

export interface ActivityRecord {
  id: number;
  queueId: number;
  queueNumber: number;
  ticketId: number;
  ticketNumber: number;
  state: ActivityState;
  /** Agent it is offered to, open with, or was closed by; null while waiting. */
  agentUserId: number | null;
  agentAlias: string | null;
  offerId: string | null;
  offeredAt: string | null;
  offerExpiresAt: string | null;
  statuses: string[];
  createdAt: string;
  assignedAt: string | null;
  closedAt: string | null;
  /** Incoming message rows the activity covers, ascending. */
  messageRowIds: number[];
}

interface ActivityRow {
  id: number;
  queue_id: number;
  queue_number: number;
  ticket_id: number;
  ticket_number: number;
  state: ActivityState;
  agent_user_id: number | null;
  agent_alias: string | null;
  offer_id: string | null;
  offered_at: Date | null;
  offer_expires_at: Date | null;
  statuses: string[];
  created_at: Date;
  assigned_at: Date | null;
  closed_at: Date | null;
}

const iso = (value: Date | null): string | null => (value === null ? null : value.toISOString());

/** Unfinished states: a ticket has at most one activity in them. */
const UNFINISHED: ActivityState[] = ['waiting', 'offered', 'open'];

/** Messages looked at per call; the workflow calls again while `more` is true. */
const CREATE_BATCH_SIZE = 200;
/** Waiting activities considered per dispatch call, oldest first. */
const DISPATCH_BATCH_SIZE = 100;

function selectActivities(db: Knex | Knex.Transaction): Knex.QueryBuilder {
  return db('email_activities as a')
    .join('queues as q', 'q.id', 'a.queue_id')
    .join('tickets as t', 't.id', 'a.ticket_id')
    .leftJoin('users as u', 'u.id', 'a.agent_user_id')
    .select('a.*', 'q.number as queue_number', 't.number as ticket_number', 'u.alias as agent_alias');
}

async function toRecords(db: Knex | Knex.Transaction, rows: ActivityRow[]): Promise<ActivityRecord[]> {
  const ids = rows.map((row) => row.id);
  const links: Array<{ activity_id: number; message_row_id: number }> = ids.length === 0 ? [] : await db('email_activity_messages').whereIn('activity_id', ids).orderBy('message_row_id').select('activity_id', 'message_row_id');
  return rows.map((row) => ({
    id: row.id,
    queueId: row.queue_id,
    queueNumber: row.queue_number,
    ticketId: row.ticket_id,
    ticketNumber: row.ticket_number,
    state: row.state,
    agentUserId: row.agent_user_id,
    agentAlias: row.agent_alias,
    offerId: row.offer_id,
    offeredAt: iso(row.offered_at),
    offerExpiresAt: iso(row.offer_expires_at),
    statuses: row.statuses,
    createdAt: row.created_at.toISOString(),
    assignedAt: iso(row.assigned_at),
    closedAt: iso(row.closed_at),
    messageRowIds: links.filter((link) => link.activity_id === row.id).map((link) => link.message_row_id),
  }));
}

/** Loads one activity, or null when the id is unknown. */
export async function findActivity(db: Knex | Knex.Transaction, id: number): Promise<ActivityRecord | null> {
  const row: ActivityRow | undefined = await selectActivities(db).where('a.id', id).first();
  return row ? (await toRecords(db, [row]))[0] : null;
}

/** Loads an activity that a committed change just touched; a missing one raises ActivityNotFound. */
async function loadActivity(db: Knex, id: number): Promise<ActivityRecord> {
  const found = await findActivity(db, id);
  if (found === null) throw notFound(id);
  return found;
}

export interface ActivityFilter {
  queueId?: number;
  state?: ActivityState;
  agentUserId?: number;
  /** At most this many, oldest first; default 500. */
  limit?: number;
}

/** Lists activities oldest first. */
export async function listActivities(db: Knex, filter: ActivityFilter = {}): Promise<ActivityRecord[]> {
  const query = selectActivities(db).orderBy('a.created_at').orderBy('a.id').limit(filter.limit ?? 500);
  if (filter.queueId !== undefined) query.where('a.queue_id', filter.queueId);
  if (filter.state !== undefined) query.where('a.state', filter.state);
  if (filter.agentUserId !== undefined) query.where('a.agent_user_id', filter.agentUserId);
  return toRecords(db, await query);
}

/** Parses a state name typed by a person; the error lists the valid ones. */
export function parseActivityState(value: string): ActivityState {
  const found = activityStates.find((state) => state === value.trim().toLowerCase());
  if (found === undefined) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Activity state "${value}" does not exist: use one of ${activityStates.join(', ')}.`, { state: value });
  }
  return found;
}

export interface CreateActivitiesResult {
  /** New waiting activities. */
  created: number;
  /** Messages that joined an unfinished activity of their ticket. */
  joined: number;
  /** Messages that need no handling: automatic, bounces, held, duplicates, our own, imported. */
  skipped: number;
  more: boolean;
}

interface UndecidedMessageRow {
  id: number;
  queue_id: number;
  ticket_id: number | null;
  state: string;
  auto_submitted: boolean;
  bounce: boolean;
  imported: boolean;
}

// NOTE: a held message is decided when it is held; attaching it to a ticket later makes no activity.
/** Returns true when a customer wrote the message to a ticket; automatic and quarantined mail needs no agent. */
function needsHandling(message: UndecidedMessageRow): message is UndecidedMessageRow & { ticket_id: number } {
  return message.state === 'threaded' && message.ticket_id !== null && !message.auto_submitted && !message.bounce && !message.imported;
}

/**
 * Turns the queue's threaded incoming messages into activities, each message in its own
 * transaction keyed by its row id: a reply joins its ticket's unfinished activity, other
 * messages that need handling open a new waiting one. Idempotent: a message is decided once.
 */
export async function createActivitiesForQueue(db: Knex, queueId: number, logger: Logger): Promise<CreateActivitiesResult> {
  const result: CreateActivitiesResult = { created: 0, joined: 0, skipped: 0, more: false };
  const candidates: Array<{ id: number }> = await db('messages')
    .where({ queue_id: queueId, direction: 'incoming' })
    .whereNull('activity_decided_at')
    .whereNot('state', 'pending')
    .orderBy('id')
    .limit(CREATE_BATCH_SIZE + 1)
    .select('id');
  result.more = candidates.length > CREATE_BATCH_SIZE;

  for (const { id } of candidates.slice(0, CREATE_BATCH_SIZE)) {
    const outcome = await db.transaction(async (trx) => {
      const message: UndecidedMessageRow | undefined = await trx('messages')
        .where({ id })
        .whereNull('activity_decided_at')
        .forUpdate()
        .first('id', 'queue_id', 'ticket_id', 'state', 'auto_submitted', 'bounce', 'imported');
      if (!message) return null;

      await trx('messages').where({ id }).update({ activity_decided_at: trx.fn.now() });
      if (!needsHandling(message)) return { kind: 'skipped' as const, activityId: null };

      // The ticket lock orders this against a concurrent close of the ticket's activity.
      await trx('tickets').where({ id: message.ticket_id }).forUpdate().first('id');
      const unfinished: { id: number } | undefined = await trx('email_activities').where({ ticket_id: message.ticket_id }).whereIn('state', UNFINISHED).forUpdate().first('id');
      let activityId: number;
      let kind: 'created' | 'joined';
      if (unfinished) {
        activityId = unfinished.id;
        kind = 'joined';
      } else {
        const [inserted] = await trx('email_activities').insert({ queue_id: message.queue_id, ticket_id: message.ticket_id, state: 'waiting' }).returning<Array<{ id: number }>>('id');
        activityId = inserted.id;
        kind = 'created';
      }
      await trx('email_activity_messages').insert({ message_row_id: id, activity_id: activityId });
      return { kind, activityId };
    });
    if (outcome === null) continue;

    result[outcome.kind] += 1;
    if (outcome.kind !== 'skipped') logger.info({ queueId, messageRowId: id, activityId: outcome.activityId, outcome: outcome.kind }, 'email activity updated from message');
  }
  return result;
}

/** Returns the queue's offers that expired at `at` to waiting; returns how many. */
export async function expireOffers(db: Knex, queueId: number, at: Date): Promise<number> {
  return db('email_activities')
    .where({ queue_id: queueId, state: 'offered' })
    .where('offer_expires_at', '<=', at)
    .update({ state: 'waiting', agent_user_id: null, offer_id: null, offered_at: null, offer_expires_at: null });
}

export type OfferOutcome = 'offered' | 'taken' | 'agent-unavailable' | 'category-not-granted';

export interface OfferRequest {
  activityId: number;
  userId: number;
  /** Names this offer; a retry with the same id returns 'offered' when the first attempt committed. */
  offerId: string;
  at: Date;
  timeoutSeconds: number;
}

/**
 * Offers one waiting activity to one agent, in one transaction. The activity must still be
 * waiting. The agent (row locked) must be ready, out of wrap-up, logged in to the activity's
 * queue, still allowed on it, below capacity, and granted the ticket's category if it has one.
 * 'taken': someone else got the activity first. 'agent-unavailable': the agent cannot take it
 * now. 'category-not-granted': the agent lacks the category right, for example because it was
 * revoked after planning.
 */
export async function offerActivity(db: Knex, request: OfferRequest): Promise<OfferOutcome> {
  return db.transaction(async (trx) => {
    const activity: { queue_id: number; state: ActivityState; offer_id: string | null } | undefined = await trx('email_activities').where({ id: request.activityId }).first('queue_id', 'state', 'offer_id');
    if (!activity) return 'taken';
    if (activity.offer_id === request.offerId) return 'offered';

    const agent: { capacity: number; ready: boolean; wrap_up_until: Date | null } | undefined = await trx('agent_states').where({ user_id: request.userId }).forUpdate().first('capacity', 'ready', 'wrap_up_until');
    if (!agent || !agent.ready) return 'agent-unavailable';
    if (agent.wrap_up_until !== null && agent.wrap_up_until.getTime() > request.at.getTime()) return 'agent-unavailable';

    const loggedIn = await trx('agent_queue_logins as l')
      .join('queue_agents as qa', function joinAllowed() {
        this.on('qa.user_id', '=', 'l.user_id').andOn('qa.queue_id', '=', 'l.queue_id');
      })
      .where({ 'l.user_id': request.userId, 'l.queue_id': activity.queue_id })
      .first('l.queue_id');
    if (!loggedIn) return 'agent-unavailable';

    // The right is locked (FOR SHARE), so a revocation waits for this offer to commit and then applies.
    const ticket: { category: string | null } = await trx('tickets').join('email_activities as a', 'a.ticket_id', 'tickets.id').where('a.id', request.activityId).first('tickets.category');
    if (ticket.category !== null) {
      const granted = await trx('user_category_rights').where({ user_id: request.userId, category: ticket.category }).forShare().first('user_id');
      if (!granted) return 'category-not-granted';
    }

    const busy = await trx('email_activities').where({ agent_user_id: request.userId }).whereIn('state', ['offered', 'open']).count<{ count: string }>('id as count').first();
    if (Number(busy?.count ?? 0) >= agent.capacity) return 'agent-unavailable';

    const updated = await trx('email_activities')
      .where({ id: request.activityId, state: 'waiting' })
      .update({
        state: 'offered',
        agent_user_id: request.userId,
        offer_id: request.offerId,
        offered_at: request.at,
        offer_expires_at: new Date(request.at.getTime() + request.timeoutSeconds * 1000),
        offer_count: trx.raw('offer_count + 1'),
      });
    if (updated === 0) return 'taken';

    // The agent goes to the back of the longest-idle order.
    await trx('agent_states').where({ user_id: request.userId }).update({ idle_since: trx.raw('GREATEST(idle_since, ?::timestamptz)', [request.at]), updated_at: trx.fn.now() });
    return 'offered';
  });
}

interface CandidateRow {
  user_id: number;
  ready: boolean;
  capacity: number;
  wrap_up_until: Date | null;
  idle_since: Date | null;
  busy: string | number;
  categories: string[];
}

/** Reads the state and granted categories of the agents logged in to the queue and still allowed on it. */
export async function readDispatchCandidates(db: Knex, queueId: number): Promise<DispatchCandidate[]> {
  const rows: CandidateRow[] = await db('agent_states as s')
    .join('agent_queue_logins as l', 'l.user_id', 's.user_id')
    .join('queue_agents as qa', function joinAllowed() {
      this.on('qa.user_id', '=', 'l.user_id').andOn('qa.queue_id', '=', 'l.queue_id');
    })
    .join('users as u', 'u.id', 's.user_id')
    .where({ 'l.queue_id': queueId, 'u.active': true })
    .select(
      's.user_id',
      's.ready',
      's.capacity',
      's.wrap_up_until',
      's.idle_since',
      db.raw(`(SELECT count(*) FROM email_activities e WHERE e.agent_user_id = s.user_id AND e.state IN ('offered', 'open')) AS busy`),
      db.raw(`ARRAY(SELECT r.category FROM user_category_rights r WHERE r.user_id = s.user_id ORDER BY r.category) AS categories`),
    );
  return rows.map((row) => ({
    userId: row.user_id,
    ready: row.ready,
    capacity: row.capacity,
    busy: Number(row.busy),
    wrapUpUntil: row.wrap_up_until?.getTime() ?? null,
    idleSince: row.idle_since?.getTime() ?? null,
    categories: row.categories,
  }));
}

export interface DispatchResult {
  expired: number;
  /** Offers made by this call (or by an earlier attempt of it that committed). */
  offered: number;
  /** Activities still waiting in the queue. */
  waiting: number;
  /** Earliest expiry of an offer in the queue (ISO), or null. */
  nextOfferExpiresAt: string | null;
}

/**
 * Runs one dispatch round for a queue at `at` (the workflow's clock). Expired offers go back
 * to waiting. Then, unless the queue is closed (`open === false`), waiting activities are
 * offered to the free agents, longest idle first, each only to agents granted its ticket's
 * category. An activity that no logged-in agent may work is logged once per round and stays
 * waiting. `dispatchKey` names the round, so a retried round finds the offers its first attempt committed.
 */
export async function dispatchQueue(db: Knex, queueId: number, at: Date, open: boolean | null, dispatchKey: string, logger: Logger): Promise<DispatchResult> {
  const expired = await expireOffers(db, queueId, at);
  if (expired > 0) logger.info({ queueId, expired }, 'offers expired');

  if (open !== false) {
    const queue: { offer_timeout_seconds: number } | undefined = await db('queues').where({ id: queueId }).first('offer_timeout_seconds');
    const waiting: WaitingActivity[] = await db('email_activities as a')
      .join('tickets as t', 't.id', 'a.ticket_id')
      .where({ 'a.queue_id': queueId, 'a.state': 'waiting' })
      .orderBy('a.created_at')
      .orderBy('a.id')
      .limit(DISPATCH_BATCH_SIZE)
      .select('a.id', 't.category');
    const candidates = await readDispatchCandidates(db, queueId);
    for (const activity of activitiesNoAgentMayWork(waiting, candidates)) {
      logger.info({ queueId, activityId: activity.id, category: activity.category }, 'waiting activity has no logged-in agent with its category right');
    }

    const plan = planOffers(waiting, candidates, at.getTime());
    for (const [activityId, userId] of plan) {
      const outcome = await offerActivity(db, { activityId, userId, offerId: `${dispatchKey}:${activityId}`, at, timeoutSeconds: queue?.offer_timeout_seconds ?? 60 });
      logger.info({ queueId, activityId, userId, outcome }, 'offer decided');
    }
  }

  const offered = await db('email_activities').where({ queue_id: queueId }).whereLike('offer_id', `${dispatchKey}:%`).count<{ count: string }>('id as count').first();
  const waiting = await db('email_activities').where({ queue_id: queueId, state: 'waiting' }).count<{ count: string }>('id as count').first();
  const next = await db('email_activities').where({ queue_id: queueId, state: 'offered' }).min<{ min: Date | null }>('offer_expires_at as min').first();
  return { expired, offered: Number(offered?.count ?? 0), waiting: Number(waiting?.count ?? 0), nextOfferExpiresAt: iso(next?.min ?? null) };
}

function notFound(id: number): MailqueueError {
  return new MailqueueError(FailureType.ActivityNotFound, `Activity ${id} does not exist: run \`mailqueue activity list\` to see the activities.`, { activityId: id });
}

async function lockActivity(trx: Knex.Transaction, id: number): Promise<ActivityRow & { offer_expires_at: Date | null }> {
  const row: ActivityRow | undefined = await trx('email_activities').where({ id }).forUpdate().first();
  if (!row) throw notFound(id);
  return row;
}

/**
 * Accepts an offer: `offered → open`, only by the agent it was offered to and before it
 * expires. Accepting an activity already open with the same agent returns it unchanged.
 * An offer found expired goes back to waiting here, and the error message reports it.
 */
export async function acceptActivity(db: Knex, id: number, userId: number, at: Date): Promise<ActivityRecord> {
  const expiredAt = await db.transaction(async (trx) => {
    const row = await lockActivity(trx, id);
    if (row.state === 'open' && row.agent_user_id === userId) return null;
    if (row.state !== 'offered' || row.agent_user_id !== userId) {
      throw new MailqueueError(FailureType.StateConflict, `Activity ${id} is ${row.state}${row.agent_user_id !== null && row.agent_user_id !== userId ? ' with another agent' : ''}, not offered to you: accept only an activity offered to you (\`mailqueue activity list --state offered --as <alias>\`).`, { activityId: id, state: row.state });
    }
    if (row.offer_expires_at !== null && row.offer_expires_at.getTime() <= at.getTime()) {
      await trx('email_activities').where({ id }).update({ state: 'waiting', agent_user_id: null, offer_id: null, offered_at: null, offer_expires_at: null });
      return row.offer_expires_at;
    }
    await trx('email_activities').where({ id }).update({ state: 'open', assigned_at: at, offer_expires_at: null });
    return null;
  });
  if (expiredAt !== null) {
    throw new MailqueueError(FailureType.StateConflict, `The offer of activity ${id} expired at ${expiredAt.toISOString()} and it went back to the queue: accept the next offer sooner, or ask an admin for a longer agents.offerTimeoutSeconds.`, { activityId: id });
  }
  return loadActivity(db, id);
}

/** Status names that exist, for validation; ascending. */
async function knownStatuses(trx: Knex.Transaction): Promise<string[]> {
  const rows: Array<{ name: string }> = await trx('statuses').orderBy('name').select('name');
  return rows.map((row) => row.name);
}

/**
 * Checks statuses for an activity of a queue: every name must exist, and a queue without
 * multiple statuses takes one. Returns the resulting list, in order, without repeats.
 */
async function resolveStatuses(trx: Knex.Transaction, activity: ActivityRow, names: string[], mode: 'add' | 'replace'): Promise<string[]> {
  const known = await knownStatuses(trx);
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Status ${unknown.map((name) => `"${name}"`).join(', ')} does not exist: use one of ${known.join(', ')}.`, { statuses: unknown });
  }

  const result = [...new Set([...(mode === 'add' ? activity.statuses : []), ...names])];
  const queue: { number: number; allow_multiple_statuses: boolean } = await trx('queues').where({ id: activity.queue_id }).first('number', 'allow_multiple_statuses');
  if (result.length > 1 && !queue.allow_multiple_statuses) {
    throw new MailqueueError(
      FailureType.InvalidConfiguration,
      `Activity ${activity.id} would get statuses ${result.join(', ')}, but queue ${queue.number} allows one status per activity: replace the status (\`--replace\`), or ask an admin to set agents.allowMultipleStatuses in the queue file.`,
      { activityId: activity.id, statuses: result },
    );
  }
  return result;
}

function requireOpenWith(row: ActivityRow, userId: number, action: string): void {
  if (row.state !== 'open' || row.agent_user_id !== userId) {
    throw new MailqueueError(FailureType.StateConflict, `Activity ${row.id} is ${row.state}${row.agent_user_id !== null && row.agent_user_id !== userId ? ' with another agent' : ''}: only the agent it is open with can ${action} it; accept it first.`, { activityId: row.id, state: row.state });
  }
}

/** Adds statuses to (or, with `replace`, sets the statuses of) an activity open with the agent. */
export async function setActivityStatuses(db: Knex, id: number, userId: number, names: string[], mode: 'add' | 'replace'): Promise<ActivityRecord> {
  await db.transaction(async (trx) => {
    const row = await lockActivity(trx, id);
    requireOpenWith(row, userId, 'set statuses on');
    const statuses = await resolveStatuses(trx, row, names, mode);
    await trx('email_activities').where({ id }).update({ statuses: JSON.stringify(statuses) });
  });
  return loadActivity(db, id);
}

export interface CloseResult {
  activity: ActivityRecord;
  /** The closed activity's queue wrap-up, which the agent workflow times. */
  wrapUpSeconds: number;
  /** Agent's wrap-up end after this close (ISO). */
  wrapUpUntil: string;
}

/**
 * Closes an activity for its agent (`open → closed`) and adds optional statuses. In the same
 * transaction the agent's wrap-up end moves to at least `at` plus the queue's wrap-up, so no
 * queue can offer the agent anything before the agent workflow receives the close.
 * Closing an activity already closed by the same agent returns the same result.
 */
export async function closeActivity(db: Knex, id: number, userId: number, at: Date, statuses: string[] = []): Promise<CloseResult> {
  const outcome = await db.transaction(async (trx) => {
    const row = await lockActivity(trx, id);
    const queue: { wrap_up_seconds: number } = await trx('queues').where({ id: row.queue_id }).first('wrap_up_seconds');
    if (row.state === 'closed' && row.agent_user_id === userId && row.closed_at !== null) {
      return { wrapUpSeconds: queue.wrap_up_seconds, closedAt: row.closed_at };
    }
    requireOpenWith(row, userId, 'close');

    const finalStatuses = statuses.length > 0 ? await resolveStatuses(trx, row, statuses, 'add') : row.statuses;
    await trx('email_activities').where({ id }).update({ state: 'closed', closed_at: at, statuses: JSON.stringify(finalStatuses) });
    const wrapUpEnd = new Date(at.getTime() + queue.wrap_up_seconds * 1000);
    await trx('agent_states')
      .where({ user_id: userId })
      .update({ wrap_up_until: trx.raw('GREATEST(wrap_up_until, ?::timestamptz)', [wrapUpEnd]), updated_at: trx.fn.now() });
    return { wrapUpSeconds: queue.wrap_up_seconds, closedAt: at };
  });

  const activity = await loadActivity(db, id);
  const agent: { wrap_up_until: Date | null } | undefined = await db('agent_states').where({ user_id: userId }).first('wrap_up_until');
  const ownEnd = outcome.closedAt.getTime() + outcome.wrapUpSeconds * 1000;
  const until = Math.max(ownEnd, agent?.wrap_up_until?.getTime() ?? ownEnd);
  return { activity, wrapUpSeconds: outcome.wrapUpSeconds, wrapUpUntil: new Date(until).toISOString() };
}
