import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Knex } from 'knex';
import { TASK_QUEUE } from '../config.js';
import { readAgentState, type AgentStateRecord } from '../db/agent-states.js';
import {
  acceptActivity,
  closeActivity,
  findActivity,
  listActivities,
  setActivityStatuses,
  type ActivityRecord,
  type ActivityState,
  type CloseResult,
} from '../db/email-activities.js';
import { mayUseQueue } from '../db/queue-agents.js';
import { requireQueueByNumber } from '../db/queues.js';
import { findUserByAlias, type UserRecord } from '../db/users.js';
import { FailureType, MailqueueError } from '../errors.js';
import {
  activityFinishedSignal,
  agentStateQuery,
  agentWorkflowId,
  loginSignal,
  logoutSignal,
  pauseSignal,
  readySignal,
  type AgentQueueRef,
  type AgentStatus,
} from '../workflows/agent-definitions.js';
import { agentWorkflow } from '../workflows/agent-workflow.js';

/**
 * Agent and email activity operations as plain functions, shared by the CLI and the HTTP
 * API. Agents are named by alias. Database changes commit before any signal is sent, and
 * each signal is safe to repeat, so running a failed command again finishes its work.
 */

export interface AgentOperationsContext {
  db: Knex;
  temporal: Client;
  /** Task queue the agent workflows run on; default `mailqueue`. */
  taskQueue?: string;
  /** The clock for offers, accepts and closes; default the system clock. Tests pass the Temporal test server's. */
  now?: () => Date | Promise<Date>;
}

/** Most activities an agent may hold at once. */
export const MAX_AGENT_CAPACITY = 100;

async function nowOf(context: AgentOperationsContext): Promise<Date> {
  return context.now ? await context.now() : new Date();
}

/** Finds the agent by alias; the error names the alias and how to create it. */
export async function requireAgent(db: Knex, alias: string): Promise<UserRecord> {
  const user = await findUserByAlias(db, alias);
  if (user === null) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Agent "${alias}" does not exist: create the user with \`mailqueue users create --alias ${alias} --email <address>\`, or check \`mailqueue users list\`.`, { alias });
  }
  return user;
}

async function signalRunningAgent(context: AgentOperationsContext, user: UserRecord, send: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<void>): Promise<void> {
  try {
    await send(context.temporal.workflow.getHandle(agentWorkflowId(user.id)));
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) {
      throw new MailqueueError(FailureType.StateConflict, `Agent "${user.alias}" is not logged in: run \`mailqueue agent login --as ${user.alias} --queue <number>\` first.`, { alias: user.alias });
    }
    throw error;
  }
}

export interface LoginOptions {
  queueNumbers: number[];
  capacity?: number;
}

/**
 * Logs the agent in to queues, starting its workflow when needed. Every queue is checked
 * first: a queue the agent may not use stops the whole login with an error naming it.
 */
export async function loginAgent(context: AgentOperationsContext, alias: string, options: LoginOptions): Promise<{ workflowId: string; queues: AgentQueueRef[] }> {
  const user = await requireAgent(context.db, alias);
  if (options.queueNumbers.length === 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, 'No queue given: name at least one queue, e.g. `--queue 3`.', { alias });
  }
  if (options.capacity !== undefined && (!Number.isInteger(options.capacity) || options.capacity < 1 || options.capacity > MAX_AGENT_CAPACITY)) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Capacity ${options.capacity} is invalid: use a whole number from 1 to ${MAX_AGENT_CAPACITY}.`, { capacity: options.capacity });
  }

  const account: { active: boolean } | undefined = await context.db('users').where({ id: user.id }).first('active');
  if (account?.active === false) {
    throw new MailqueueError(FailureType.NotPermitted, `Agent "${user.alias}" is deactivated: an admin must activate user ${user.alias} before the agent can log in.`, { alias: user.alias });
  }

  const queues: AgentQueueRef[] = [];
  for (const number of options.queueNumbers) {
    const queue = await requireQueueByNumber(context.db, number);
    if (!(await mayUseQueue(context.db, queue.id, user.id))) {
      throw new MailqueueError(FailureType.NotPermitted, `Agent "${user.alias}" may not use queue ${number} "${queue.title}": an admin must allow agent ${user.alias} on queue ${number}.`, { alias: user.alias, queueNumber: number });
    }
    queues.push({ queueId: queue.id, queueNumber: queue.number });
  }

  const workflowId = agentWorkflowId(user.id);
  await context.temporal.workflow.signalWithStart(agentWorkflow, {
    workflowId,
    taskQueue: context.taskQueue ?? TASK_QUEUE,
    args: [{ userId: user.id }],
    signal: loginSignal,
    signalArgs: [{ queues, capacity: options.capacity }],
  });
  return { workflowId, queues };
}

/** Logs the agent out of the given queues, or of every queue when `queueNumbers` is empty. */
export async function logoutAgent(context: AgentOperationsContext, alias: string, queueNumbers: number[] = []): Promise<void> {
  const user = await requireAgent(context.db, alias);
  const queueIds: number[] = [];
  for (const number of queueNumbers) queueIds.push((await requireQueueByNumber(context.db, number)).id);
  await signalRunningAgent(context, user, (handle) => handle.signal(logoutSignal, { queueIds: queueNumbers.length === 0 ? null : queueIds }));
}

/** Marks the agent ready for offers. */
export async function setAgentReady(context: AgentOperationsContext, alias: string): Promise<void> {
  const user = await requireAgent(context.db, alias);
  await signalRunningAgent(context, user, (handle) => handle.signal(readySignal));
}

/** Pauses the agent with a reason; offers not yet accepted go back to their queues. */
export async function pauseAgent(context: AgentOperationsContext, alias: string, reason: string): Promise<void> {
  const trimmed = reason.trim();
  if (trimmed === '' || trimmed.length > 200 || /[\u0000-\u001f\u007f]/.test(trimmed)) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Pause reason ${JSON.stringify(reason)} is invalid: give 1 to 200 printable characters, e.g. "lunch".`, { reason });
  }
  const user = await requireAgent(context.db, alias);
  await signalRunningAgent(context, user, (handle) => handle.signal(pauseSignal, trimmed));
}

export interface AgentStatusView {
  alias: string;
  userId: number;
  /** The agent workflow's live state, or null when it never ran. */
  live: AgentStatus | null;
  /** The database row that dispatch reads. */
  stored: AgentStateRecord | null;
  /** Activities offered to or open with the agent. */
  activities: ActivityRecord[];
}

/** Reads the agent's live state (workflow query), its database mirror and its current activities. */
export async function agentStatus(context: AgentOperationsContext, alias: string): Promise<AgentStatusView> {
  const user = await requireAgent(context.db, alias);
  let live: AgentStatus | null = null;
  try {
    live = await context.temporal.workflow.getHandle(agentWorkflowId(user.id)).query(agentStateQuery);
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
  }
  const offered = await listActivities(context.db, { agentUserId: user.id, state: 'offered' });
  const open = await listActivities(context.db, { agentUserId: user.id, state: 'open' });
  return { alias: user.alias, userId: user.id, live, stored: await readAgentState(context.db, user.id), activities: [...offered, ...open] };
}

export interface ActivityListOptions {
  queueNumber?: number;
  state?: ActivityState;
  /** Only activities offered to, open with or closed by this agent. */
  alias?: string;
  limit?: number;
}

export async function listEmailActivities(context: AgentOperationsContext, options: ActivityListOptions = {}): Promise<ActivityRecord[]> {
  const queueId = options.queueNumber === undefined ? undefined : (await requireQueueByNumber(context.db, options.queueNumber)).id;
  const agentUserId = options.alias === undefined ? undefined : (await requireAgent(context.db, options.alias)).id;
  return listActivities(context.db, { queueId, state: options.state, agentUserId, limit: options.limit });
}

/** Loads one activity; the error names the id and how to list them. */
export async function showEmailActivity(context: AgentOperationsContext, id: number): Promise<ActivityRecord> {
  const found = await findActivity(context.db, id);
  if (found === null) {
    throw new MailqueueError(FailureType.ActivityNotFound, `Activity ${id} does not exist: run \`mailqueue activity list\` to see the activities.`, { activityId: id });
  }
  return found;
}

/** Accepts an activity offered to the agent. */
export async function acceptEmailActivity(context: AgentOperationsContext, alias: string, id: number): Promise<ActivityRecord> {
  const user = await requireAgent(context.db, alias);
  return acceptActivity(context.db, id, user.id, await nowOf(context));
}

/** Adds statuses to an open activity, or replaces them with `replace`. */
export async function setEmailActivityStatuses(context: AgentOperationsContext, alias: string, id: number, statuses: string[], mode: 'add' | 'replace'): Promise<ActivityRecord> {
  const user = await requireAgent(context.db, alias);
  return setActivityStatuses(context.db, id, user.id, statuses, mode);
}

/**
 * Closes an activity open with the agent. The close (and the wrap-up end in the database)
 * commits first. Then the agent workflow gets the `activityFinished` signal, and is started
 * if needed, so it times the wrap-up. Repeating the call after a failure sends the signal
 * again, and the workflow ignores a repeat.
 */
export async function closeEmailActivity(context: AgentOperationsContext, alias: string, id: number, statuses: string[] = []): Promise<CloseResult> {
  const user = await requireAgent(context.db, alias);
  const result = await closeActivity(context.db, id, user.id, await nowOf(context), statuses);
  await context.temporal.workflow.signalWithStart(agentWorkflow, {
    workflowId: agentWorkflowId(user.id),
    taskQueue: context.taskQueue ?? TASK_QUEUE,
    args: [{ userId: user.id }],
    signal: activityFinishedSignal,
    signalArgs: [{ activityId: id, queueId: result.activity.queueId, finishedAt: result.activity.closedAt ?? new Date().toISOString(), wrapUpSeconds: result.wrapUpSeconds }],
  });
  return result;
}
