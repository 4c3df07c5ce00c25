import type { Knex } from 'knex';
import type { Logger } from 'pino';

import { getQueueById } from '../db/queues.js';
import { loadRoutingRulesForQueue } from '../db/routing-rules.js';
import { addTicketEvent } from '../db/tickets.js';
import { buildRoutingFacts, compileRoutingRules, evaluateRoutingRules, type CompiledRoutingRule, type RoutingChanges } from '../domain/routing-rules.js';
import type { ParsedAddress } from '../mail/parsed-message.js';

/** Counts from one routing pass; the workflow adds them to its status counters. */
export interface RouteResult {
  /** Messages whose routing was decided, matched or not. */
  routed: number;
  /** Of those, messages that at least one rule matched. */
  matched: number;
  /** More threaded messages wait for routing beyond this batch. */
  more: boolean;
}

interface UnroutedMessageRow {
  id: number;
  ticket_id: number;
  thread_rule: string | null;
  from: ParsedAddress[];
  to: ParsedAddress[];
  cc: ParsedAddress[];
  reply_to: ParsedAddress[];
  subject: string;
  text: string;
  headers: Array<[string, string]>;
}

interface TicketFieldsRow {
  id: number;
  extra_statuses: string[];
}

/** Messages routed per activity call; the workflow calls again while `more` is true. */
const ROUTE_BATCH_SIZE = 200;

/** The ticket columns a routing decision wrote, as recorded in the `routing` ticket event. */
interface AppliedChanges extends Omit<RoutingChanges, 'owner'> {
  owner?: { alias: string; userId: number };
}

/**
 * Writes the changes to the ticket in the caller's transaction and returns what was
 * written. An owner whose user was deleted or deactivated since the rule was saved is
 * left out and reported, so the rest still applies.
 */
async function applyChanges(trx: Knex.Transaction, ticket: TicketFieldsRow, changes: RoutingChanges): Promise<{ applied: AppliedChanges; skipped: string[] }> {
  const update: Record<string, unknown> = {};
  const applied: AppliedChanges = {};
  const skipped: string[] = [];

  if (changes.category !== undefined) update.category = applied.category = changes.category;
  if (changes.priority !== undefined) update.priority = applied.priority = changes.priority;
  if (changes.status !== undefined) update.status = applied.status = changes.status;
  if (changes.stage !== undefined) update.stage = applied.stage = changes.stage;

  if (changes.owner !== undefined) {
    const user: { id: number } | undefined = await trx('users').where({ alias: changes.owner, active: true }).first('id');
    if (user) {
      update.owner_user_id = user.id;
      applied.owner = { alias: changes.owner, userId: user.id };
    } else {
      skipped.push(`owner "${changes.owner}" not found among active users`);
    }
  }

  if (changes.customFields !== undefined) {
    update.custom_fields = trx.raw('custom_fields || ?::jsonb', [JSON.stringify(changes.customFields)]);
    applied.customFields = changes.customFields;
  }

  if (changes.addStatuses !== undefined) {
    const added = changes.addStatuses.filter((status) => !ticket.extra_statuses.includes(status));
    if (added.length > 0) update.extra_statuses = JSON.stringify([...ticket.extra_statuses, ...added]);
    applied.addStatuses = added;
  }

  if (Object.keys(update).length > 0) {
    await trx('tickets').where({ id: ticket.id }).update({ ...update, updated_at: trx.fn.now() });
  }
  return { applied, skipped };
}

/**
 * Applies the routing rules to the queue's threaded messages that have not been routed,
 * in arrival order. Each message commits in one transaction: the ticket's fields, a
 * `routing` ticket event naming the matched rules and the changes, and the message's
 * `routed_at`, so a retry or a crash never routes a message twice. A new ticket runs
 * every rule of the queue, a reply only the rules with runOnReplies. Held, duplicate
 * and own messages are never threaded, so they are never routed, and a delivery report
 * (bounce) is marked routed without running any rule.
 *
 * @param open working hours state held by the workflow: false closed, null no time group.
 */
export async function routePendingMessages(db: Knex, queueId: number, open: boolean | null, logger: Logger): Promise<RouteResult> {
  const queue = await getQueueById(db, queueId);
  const log = logger.child({ queueId, queueNumber: queue.number });
  const result: RouteResult = { routed: 0, matched: 0, more: false };

  const candidates: Array<{ id: number }> = await db('messages')
    .where({ queue_id: queueId, direction: 'incoming', state: 'threaded' })
    .whereNull('routed_at')
    .orderBy('id')
    .limit(ROUTE_BATCH_SIZE + 1)
    .select('id');
  result.more = candidates.length > ROUTE_BATCH_SIZE;
  if (candidates.length === 0) return result;

  const { compiled, errors } = compileRoutingRules(await loadRoutingRulesForQueue(db, queue.number));
  for (const error of errors) {
    log.warn({ ruleId: error.id, ruleName: error.name, error: error.message }, 'routing rule skipped: its stored document is invalid');
  }

  for (const { id } of candidates.slice(0, ROUTE_BATCH_SIZE)) {
    const decided = await db.transaction((trx) => routeOne(trx, id, compiled, queue.number, open));
    if (decided === null) continue;

    result.routed += 1;
    if (decided.matched.length === 0) continue;
    result.matched += 1;
    log.info({ messageRowId: id, ticketId: decided.ticketId, rules: decided.matched, skipped: decided.skipped }, 'routing rules matched');
  }
  return result;
}

/** Routes one message in the caller's transaction; null when another run routed it first. */
async function routeOne(
  trx: Knex.Transaction,
  id: number,
  rules: CompiledRoutingRule[],
  queueNumber: number,
  open: boolean | null,
): Promise<{ ticketId: number; matched: Array<{ id: number; name: string }>; skipped: string[] } | null> {
  const message: UnroutedMessageRow | undefined = await trx('messages').where({ id }).whereNull('routed_at').forUpdate().first();
  if (!message) return null;
  await trx('messages').where({ id }).update({ routed_at: trx.fn.now() });
  if (message.thread_rule === 'bounce') return { ticketId: message.ticket_id, matched: [], skipped: [] };

  const attachments: Array<{ filename: string; inline: boolean }> = await trx('attachments').where({ message_row_id: id }).orderBy('id').select('filename', 'inline');
  const facts = buildRoutingFacts({
    from: message.from,
    replyTo: message.reply_to,
    to: message.to,
    cc: message.cc,
    subject: message.subject,
    text: message.text,
    headers: message.headers,
    attachments,
    queueNumber,
    open,
    reply: !(message.thread_rule ?? '').startsWith('new'),
  });
  const outcome = evaluateRoutingRules(rules, facts);
  const matched = outcome.matched.map((rule) => ({ id: rule.id, name: rule.name }));
  if (matched.length === 0) return { ticketId: message.ticket_id, matched, skipped: [] };

  const ticket: TicketFieldsRow = await trx('tickets').where({ id: message.ticket_id }).forUpdate().first('id', 'extra_statuses');
  const { applied, skipped } = await applyChanges(trx, ticket, outcome.changes);
  const skippedActions = [...outcome.skipped.map((entry) => `rule ${entry.ruleId} action ${entry.action}: ${entry.reason}`), ...skipped];
  await addTicketEvent(trx, {
    ticketId: ticket.id,
    messageRowId: id,
    kind: 'routing',
    data: { rules: outcome.matched, changes: applied, skipped: skippedActions },
  });
  return { ticketId: ticket.id, matched, skipped: skippedActions };
}
