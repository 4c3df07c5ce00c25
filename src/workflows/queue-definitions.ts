import { defineQuery, defineSignal } from '@temporalio/workflow';

/**
 * Signals and queries of the queue workflow. Clients import these constants
 * instead of spelling a signal or query name as a string.
 */

/** Pause (false) or resume (true) receiving. Outgoing mail is not affected. */
export const setActiveSignal = defineSignal<[active: boolean]>('setActive');
/** New mail is waiting: fetch now instead of at the next poll. */
export const mailArrivedSignal = defineSignal('mailArrived');
/** Queue settings changed in the database: reload them. */
export const configChangedSignal = defineSignal('configChanged');
/** An agent of the queue may have become free (ready, wrap-up over, logged in): dispatch now. */
export const agentAvailableSignal = defineSignal('agentAvailable');
export const statusQuery = defineQuery<QueueStatus>('status');

export const queueWorkflowId = (queueNumber: number): string => `email-queue-${queueNumber}`;

export interface QueueCounters {
  stored: number;
  alreadyStored: number;
  duplicates: number;
  parseErrors: number;
  newTickets: number;
  replies: number;
  ownMessages: number;
  crossQueueDuplicates: number;
  held: number;
  /** Threaded incoming messages whose routing rules ran (or that no rule could apply to). */
  routed: number;
  /** Of the routed messages, those that at least one rule matched. */
  routedMatched: number;
  deletedFromServer: number;
  movedToProcessedFolder: number;
  autoresponsesQueued: number;
  autoresponsesSkipped: number;
  deliveriesStarted: number;
  activitiesCreated: number;
  activityMessagesJoined: number;
  offersMade: number;
  offersExpired: number;
  cycles: number;
  failedCycles: number;
}

export interface QueueError {
  /** Failure type from the shared vocabulary, e.g. AuthenticationFailed. */
  type: string;
  message: string;
  /** ISO time of the failure. */
  at: string;
  /** Failed cycles in a row. */
  consecutive: number;
}

/** Since when and why the queue's mailbox must be reconnected. */
export interface QueueDegradation {
  /** ISO time of the first rejected refresh of this failure streak. */
  since: string;
  reason: string;
}

/** The signed-in account of an OAuth2 mailbox, without any token. */
export interface QueueAccount {
  protocol: string;
  address: string | null;
  /** connected, degraded (reconnect needed), pending (never signed in), or application (tenant permissions, no sign-in). */
  state: 'connected' | 'degraded' | 'pending' | 'application';
}

export interface QueueCursor {
  folder: string;
  uidValidity: string;
  lastUid: number;
}

/** Result of the `status` query, as plain JSON. */
export interface QueueStatus {
  queueId: number;
  /** Null until the workflow has loaded the queue's settings, a moment after it starts. */
  number: number | null;
  title: string | null;
  active: boolean;
  /** Inside working hours; null when the queue has no time group (always open). */
  open: boolean | null;
  /** Next opening or closing (ISO), or null. */
  nextOpenChangeAt: string | null;
  /** Outgoing mail of this queue: waiting rows, failed rows and the newest failure. */
  outbox: { pending: number; failed: number; lastFailure: { outboxId: number; ticketId: number | null; reason: string } | null };
  lastFetchAt: string | null;
  lastError: QueueError | null;
  counters: QueueCounters;
  cursor: QueueCursor | null;
  /** When the next poll starts if no signal comes first (ISO), or null while paused. */
  nextPollAt: string | null;
  /** Set while the mailbox's OAuth2 grant is rejected; cleared by the first successful fetch after reconnecting. */
  degraded: QueueDegradation | null;
  /** The OAuth2 account of the incoming side, or null for password protocols. */
  account: QueueAccount | null;
  /** Email activities: waiting after the last dispatch round, the next offer expiry (ISO), and when that round ran (ISO). */
  dispatch: { waiting: number; nextOfferExpiresAt: string | null; lastDispatchAt: string | null };
}

/** State carried across continue-as-new. Only plain JSON. */
export interface CarriedQueueState {
  counters: QueueCounters;
  lastFetchAt: string | null;
  lastError: QueueError | null;
  cursor: QueueCursor | null;
  /** Absent in state carried before degradation was tracked. */
  degraded?: QueueDegradation | null;
}

export interface QueueWorkflowInput {
  queueId: number;
  carried?: CarriedQueueState;
}

export function emptyCounters(): QueueCounters {
  return {
    stored: 0,
    alreadyStored: 0,
    duplicates: 0,
    parseErrors: 0,
    newTickets: 0,
    replies: 0,
    ownMessages: 0,
    crossQueueDuplicates: 0,
    held: 0,
    routed: 0,
    routedMatched: 0,
    deletedFromServer: 0,
    movedToProcessedFolder: 0,
    autoresponsesQueued: 0,
    autoresponsesSkipped: 0,
    deliveriesStarted: 0,
    activitiesCreated: 0,
    activityMessagesJoined: 0,
    offersMade: 0,
    offersExpired: 0,
    cycles: 0,
    failedCycles: 0,
  };
}
