import { defineQuery, defineSignal } from '@temporalio/workflow';

/**
 * Signals and queries of the agent workflow (one per agent, `agent-<user id>`). Clients
 * import these constants instead of spelling names as strings. Payloads carry ids only.
 */

export const agentWorkflowId = (userId: number): string => `agent-${userId}`;

/** A queue the agent is logged in to: the id for the database, the number for its workflow id. */
export interface AgentQueueRef {
  queueId: number;
  queueNumber: number;
}

export interface LoginRequest {
  /** Queues to add; the caller has checked that the agent may use them. */
  queues: AgentQueueRef[];
  /** New capacity (open plus offered email activities), when given. */
  capacity?: number;
}

export interface LogoutRequest {
  /** Queues to leave; null leaves every queue. */
  queueIds: number[] | null;
}

export interface ActivityFinishedRequest {
  activityId: number;
  queueId: number;
  /** When the close committed (ISO); the wrap-up runs from here. */
  finishedAt: string;
  wrapUpSeconds: number;
}

export const loginSignal = defineSignal<[LoginRequest]>('login');
export const logoutSignal = defineSignal<[LogoutRequest]>('logout');
export const readySignal = defineSignal('ready');
export const pauseSignal = defineSignal<[reason: string]>('pause');
export const activityFinishedSignal = defineSignal<[ActivityFinishedRequest]>('activityFinished');
export const agentStateQuery = defineQuery<AgentStatus>('agentState');

/** Default number of email activities (offered plus open) per agent at once. */
export const DEFAULT_AGENT_CAPACITY = 1;
/** Pause reason set when the agent leaves its last queue. */
export const LOGGED_OUT_REASON = 'logged-out';
/** Pause reason of an agent who logged in but has not run `agent ready` yet. */
export const NOT_READY_REASON = 'not-ready';

/** Result of the `agentState` query, as plain JSON. */
export interface AgentStatus {
  userId: number;
  queues: AgentQueueRef[];
  ready: boolean;
  /** Pause reason; null when ready. */
  pauseReason: string | null;
  capacity: number;
  /** End of the current or last wrap-up (ISO), or null. */
  wrapUpUntil: string | null;
  /** True while the wrap-up timer runs. */
  inWrapUp: boolean;
  /** When the agent last became free for offers by its own events (ISO), or null. */
  idleSince: string | null;
  /** Activities finished in this and carried runs. */
  finishedCount: number;
  /** True while a state change waits to be written to the database. */
  savePending: boolean;
}

/** State carried across continue-as-new. Only plain JSON. */
export interface CarriedAgentState {
  queues: AgentQueueRef[];
  ready: boolean;
  pauseReason: string | null;
  capacity: number;
  wrapUpUntilMs: number | null;
  wrapUpRunning: boolean;
  idleSinceMs: number | null;
  finishedCount: number;
  /** Recently finished activity ids, so a repeated `activityFinished` signal is ignored. */
  recentFinished: number[];
  /** A change not yet written to the database when the run ended. */
  savePending: boolean;
  /** Queue numbers still to be signalled that the agent is available. */
  notifyQueueNumbers: number[];
}

export interface AgentWorkflowInput {
  userId: number;
  carried?: CarriedAgentState;
}
