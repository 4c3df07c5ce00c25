import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { isOpenAt, nextChangeAfter } from '../domain/working-hours.js';
import { outboxDeliveryWorkflow, outboxDeliveryWorkflowId } from './outbox-delivery-workflow.js';
import type { QueueActivities, QueueRuntimeSettings } from '../activities/index.js';
import {
  agentAvailableSignal,
  configChangedSignal,
  emptyCounters,
  mailArrivedSignal,
  setActiveSignal,
  statusQuery,
  type QueueDegradation,
  type QueueError,
  type QueueStatus,
  type QueueWorkflowInput,
} from './queue-definitions.js';
import { queueActiveKey, queueDegradedKey, queueNumberKey, queueTitleKey } from './search-attributes.js';

const settingsActivities = proxyActivities<QueueActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes: ['QueueNotFound'] },
});

// Mail activities retry a few times quickly. After that the workflow records the
// error in `status` and waits with its own growing backoff, so a wrong password
// neither kills the workflow nor makes it spin.
const mailActivities = proxyActivities<QueueActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '2 minutes',
  // A rejected OAuth2 grant is not retried here: only reconnecting helps, and the workflow marks the queue degraded at once.
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 3, nonRetryableErrorTypes: ['ReconnectRequired'] },
});

/** Fetch batches per cycle before threading; the rest waits for the next cycle. */
const MAX_FETCH_BATCHES_PER_CYCLE = 20;
/** Patch id of the routing step, so workflows started before it keep replaying. */
const ROUTING_PATCH = 'email-routing-rules';
/** Patch id of email activities and their dispatch to agents, so older runs keep replaying. */
const EMAIL_ACTIVITIES_PATCH = 'email-activities';
/** Patch id of marking a deleted queue's workflow inactive as it ends, so runs that ended before it keep replaying. */
const DELETED_QUEUE_INACTIVE_PATCH = 'deleted-queue-inactive';
/** Maximum wait after repeated failures, in milliseconds. */
const MAX_ERROR_BACKOFF_MS = 30 * 60 * 1000;
/** Failure type of a rejected OAuth2 grant (src/errors.ts); only reconnecting the mailbox fixes it. */
const RECONNECT_REQUIRED = 'ReconnectRequired';
/** Wait before another dispatch round after one failed, in milliseconds. */
const DISPATCH_RETRY_MS = 60 * 1000;
/** Cycles before continue-as-new even if the server does not suggest it. */
const MAX_CYCLES_PER_RUN = 1000;

function describeFailure(error: unknown): { type: string; message: string } {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure) {
    return { type: cause.type ?? 'ApplicationFailure', message: cause.message };
  }
  if (cause instanceof Error) {
    return { type: cause.name, message: cause.message };
  }
  return { type: 'Unknown', message: String(cause) };
}

/** Loads the queue's settings; null when the queue was deleted. */
async function reloadSettings(queueId: number): Promise<QueueRuntimeSettings | null> {
  try {
    return await settingsActivities.loadQueueSettings(queueId);
  } catch (error) {
    if (describeFailure(error).type === 'QueueNotFound') return null;
    throw error;
  }
}

/**
 * Starts one delivery workflow per pending outbox row. The workflow id is derived
 * from the row, so a row whose delivery already runs is not started twice. Children
 * are abandoned, so deliveries outlive a continue-as-new of the queue workflow.
 */
async function startDeliveriesFor(pendingIds: number[]): Promise<number> {
  let started = 0;
  for (const outboxId of pendingIds) {
    try {
      await startChild(outboxDeliveryWorkflow, {
        workflowId: outboxDeliveryWorkflowId(outboxId),
        args: [{ outboxId }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
      started += 1;
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  }
  return started;
}

/**
 * Runs one email queue for as long as it exists: fetch → thread → route → respond →
 * delete from server when configured → wait for the poll interval or a signal.
 */
export async function emailQueueWorkflow(input: QueueWorkflowInput): Promise<void> {
  const carried = input.carried;
  // Null until the first settings load. Handlers are registered before it, so early
  // queries get a result and early signals are kept.
  let loaded: QueueRuntimeSettings | null = null;
  let activeFromSignal: boolean | null = null;
  let active = false;
  let mailArrived = false;
  let configChanged = false;
  let nextPollAt: string | null = null;
  let pauseLogged = false;
  // Counters added since the carried state was written start at zero.
  const counters = { ...emptyCounters(), ...carried?.counters };
  let lastFetchAt = carried?.lastFetchAt ?? null;
  let lastError: QueueError | null = carried?.lastError ?? null;
  let cursor = carried?.cursor ?? null;
  let degraded: QueueDegradation | null = carried?.degraded ?? null;
  let open: boolean | null = null;
  let nextOpenChangeAt: number | null = null;
  let outbox: QueueStatus['outbox'] = { pending: 0, failed: 0, lastFailure: null };
  // Email activity dispatch: the database decides every offer; this is only when to ask.
  let dispatchRequested = false;
  let dispatchRound = 0;
  let nextOfferExpiryMs: number | null = null;
  let dispatchState: QueueStatus['dispatch'] = { waiting: 0, nextOfferExpiresAt: null, lastDispatchAt: null };

  setHandler(setActiveSignal, (value: boolean) => {
    active = value;
    activeFromSignal = value;
    upsertSearchAttributes([{ key: queueActiveKey, value }]);
  });
  setHandler(mailArrivedSignal, () => {
    mailArrived = true;
  });
  setHandler(configChangedSignal, () => {
    configChanged = true;
  });
  setHandler(agentAvailableSignal, () => {
    dispatchRequested = true;
  });
  setHandler(statusQuery, (): QueueStatus => ({
    queueId: input.queueId,
    number: loaded?.number ?? null,
    title: loaded?.title ?? null,
    active,
    open,
    nextOpenChangeAt: nextOpenChangeAt === null ? null : new Date(nextOpenChangeAt).toISOString(),
    outbox,
    lastFetchAt,
    lastError,
    counters,
    cursor,
    nextPollAt,
    degraded,
    account: loaded?.account ? { ...loaded.account, state: degraded !== null && loaded.account.state === 'connected' ? 'degraded' : loaded.account.state } : null,
    dispatch: dispatchState,
  }));

  /** Sets QueueActive to false as the workflow ends for a deleted queue, so `QueueActive = false` finds it. */
  const markQueueGone = (): void => {
    active = false;
    if (patched(DELETED_QUEUE_INACTIVE_PATCH)) upsertSearchAttributes([{ key: queueActiveKey, value: false }]);
  };

  const initial = await reloadSettings(input.queueId);
  if (initial === null) {
    log.info('queue does not exist; workflow ends', { queueId: input.queueId });
    markQueueGone();
    return;
  }
  let settings: QueueRuntimeSettings = initial;
  loaded = settings;
  active = activeFromSignal ?? settings.active;
  // Runs started before email activities existed replay without creating or dispatching any.
  const emailActivitiesEnabled = patched(EMAIL_ACTIVITIES_PATCH);

  // Working hours are state, recomputed from workflow time, so a replay computes the same value.
  const refreshWorkingHours = (): void => {
    const group = settings.timeGroup;
    if (group === null) {
      open = null;
      nextOpenChangeAt = null;
      return;
    }
    open = isOpenAt(group, Date.now());
    nextOpenChangeAt = nextChangeAfter(group, Date.now());
  };

  const startDeliveries = async (): Promise<void> => {
    const summary = await settingsActivities.summariseOutbox(input.queueId);
    counters.deliveriesStarted += await startDeliveriesFor(summary.pendingIds);
    outbox = { pending: summary.pendingIds.length, failed: summary.failed, lastFailure: summary.lastFailure };
  };

  /**
   * Runs one dispatch round: expired offers go back to waiting, then waiting activities are
   * offered to free agents unless working hours are closed. It runs whether or not the queue
   * takes in mail, because pausing a queue stops intake only.
   */
  const dispatch = async (): Promise<void> => {
    dispatchRequested = false;
    if (!emailActivitiesEnabled) return;
    dispatchRound += 1;
    try {
      const result = await settingsActivities.dispatchQueue(input.queueId, Date.now(), open, `${workflowInfo().runId}:${dispatchRound}`);
      counters.offersMade += result.offered;
      counters.offersExpired += result.expired;
      nextOfferExpiryMs = result.nextOfferExpiresAt === null ? null : Date.parse(result.nextOfferExpiresAt);
      dispatchState = { waiting: result.waiting, nextOfferExpiresAt: result.nextOfferExpiresAt, lastDispatchAt: new Date().toISOString() };
    } catch (error) {
      // Try again in a minute rather than at every wake.
      nextOfferExpiryMs = Date.now() + DISPATCH_RETRY_MS;
      log.warn('dispatch failed', { queueId: input.queueId, type: describeFailure(error).type });
    }
  };

  /**
   * Waits up to `ms` for `wake`, dispatching on the way when an agent becomes available,
   * an offer expires or the working hours open or close. Returns true when `wake` fired.
   */
  const waitDispatching = async (ms: number, wake: () => boolean): Promise<boolean> => {
    const deadline = Date.now() + ms;
    for (;;) {
      if (wake()) return true;
      const now = Date.now();
      // A long wait full of dispatch rounds ends early, so the cycle can continue-as-new.
      if (now >= deadline || workflowInfo().continueAsNewSuggested) return false;
      const untilExpiryMs = nextOfferExpiryMs === null ? Number.POSITIVE_INFINITY : Math.max(1, nextOfferExpiryMs - now);
      const untilOpenChangeMs = nextOpenChangeAt === null ? Number.POSITIVE_INFINITY : Math.max(1, nextOpenChangeAt - now);
      await condition(() => wake() || dispatchRequested, Math.min(deadline - now, untilExpiryMs, untilOpenChangeMs));
      if (wake()) return true;
      if (nextOpenChangeAt !== null && Date.now() >= nextOpenChangeAt) {
        refreshWorkingHours();
        log.info('working hours changed', { queueId: input.queueId, open });
        dispatchRequested = true;
      }
      if (nextOfferExpiryMs !== null && Date.now() >= nextOfferExpiryMs) dispatchRequested = true;
      if (dispatchRequested) await dispatch();
    }
  };

  upsertSearchAttributes([
    { key: queueNumberKey, value: settings.number },
    { key: queueTitleKey, value: settings.title },
    { key: queueActiveKey, value: active },
  ]);

  for (let cycle = 0; ; cycle++) {
    if (configChanged) {
      configChanged = false;
      const reloaded = await reloadSettings(input.queueId);
      if (reloaded === null) {
        log.info('queue no longer exists; workflow ends', { queueId: input.queueId });
        markQueueGone();
        return;
      }
      settings = reloaded;
      loaded = reloaded;
      upsertSearchAttributes([{ key: queueTitleKey, value: settings.title }]);
    }
    refreshWorkingHours();

    if (!active) {
      nextPollAt = null;
      if (!pauseLogged) log.info('queue paused', { queueId: input.queueId });
      pauseLogged = true;
      // Pausing stops receiving only: mail waiting in the outbox is still delivered.
      try {
        await startDeliveries();
      } catch (error) {
        log.warn('outbox sweep failed while paused', { queueId: input.queueId, type: describeFailure(error).type });
      }
      await dispatch();
      await waitDispatching(settings.pollIntervalSeconds * 1000, () => active || configChanged);
      if (workflowInfo().continueAsNewSuggested) {
        await continueAsNew<typeof emailQueueWorkflow>({ queueId: input.queueId, carried: { counters, lastFetchAt, lastError, cursor, degraded } });
      }
      continue;
    }

    if (pauseLogged) log.info('queue resumed', { queueId: input.queueId });
    pauseLogged = false;
    mailArrived = false;
    try {
      for (let batch = 0; batch < MAX_FETCH_BATCHES_PER_CYCLE; batch++) {
        const fetched = await mailActivities.fetchNewMail(input.queueId);
        lastFetchAt = new Date().toISOString();
        cursor = { folder: fetched.folder, uidValidity: fetched.uidValidity, lastUid: fetched.lastUid };
        counters.stored += fetched.stored;
        counters.alreadyStored += fetched.alreadyStored;
        counters.duplicates += fetched.duplicates;
        counters.parseErrors += fetched.parseErrors;
        counters.deletedFromServer += fetched.deletedFromServer ?? 0;
        if (degraded !== null) {
          // The first fetch after reconnecting ends the streak.
          log.info('queue mailbox reconnected; fetching resumed', { queueId: input.queueId, degradedSince: degraded.since });
          degraded = null;
          upsertSearchAttributes([{ key: queueDegradedKey, value: false }]);
        }
        if (!fetched.more) break;
      }

      for (;;) {
        const threaded = await mailActivities.threadPendingMessages(input.queueId);
        counters.newTickets += threaded.newTickets;
        counters.replies += threaded.replies;
        counters.ownMessages += threaded.ownMessages;
        counters.crossQueueDuplicates += threaded.crossQueueDuplicates;
        counters.held += threaded.held;
        if (!threaded.more) break;
      }

      // Runs started before routing existed replay without this step; see the replay test.
      if (patched(ROUTING_PATCH)) {
        for (;;) {
          const routed = await mailActivities.routePendingMessages(input.queueId, open);
          counters.routed += routed.routed;
          counters.routedMatched += routed.matched;
          if (!routed.more) break;
        }
      }

      for (;;) {
        const responded = await mailActivities.decideAutoresponses(input.queueId, open);
        counters.autoresponsesQueued += responded.queued;
        counters.autoresponsesSkipped += responded.skipped;
        if (!responded.more) break;
      }
      await startDeliveries();

      // Messages that need an agent become email activities, then go to free agents.
      while (emailActivitiesEnabled) {
        const made = await mailActivities.createEmailActivities(input.queueId);
        counters.activitiesCreated += made.created;
        counters.activityMessagesJoined += made.joined;
        if (!made.more) break;
      }

      if (settings.dontKeepEmails || settings.processedFolder !== null) {
        const removed = await mailActivities.removeStoredFromFolder(input.queueId);
        counters.deletedFromServer += removed.deleted;
        counters.movedToProcessedFolder += removed.moved;
      }
      counters.cycles += 1;
      lastError = null;
    } catch (error) {
      const failure = describeFailure(error);
      if (failure.type === 'QueueNotFound') {
        log.info('queue no longer exists; workflow ends', { queueId: input.queueId });
        markQueueGone();
        return;
      }
      counters.failedCycles += 1;
      lastError = { ...failure, at: new Date().toISOString(), consecutive: (lastError?.consecutive ?? 0) + 1 };
      if (failure.type === RECONNECT_REQUIRED && degraded === null) {
        // Logged at error level once per streak; the retries that follow only count in lastError.
        degraded = { since: lastError.at, reason: failure.message };
        upsertSearchAttributes([{ key: queueDegradedKey, value: true }]);
        log.error('queue degraded: the mailbox must be reconnected', { queueId: input.queueId, type: failure.type, reason: failure.message });
      } else {
        log.warn('queue cycle failed', { queueId: input.queueId, type: failure.type, consecutiveFailures: lastError.consecutive });
      }
    }
    // Outside the cycle's try: waiting activities go to agents even while the mailbox fails.
    await dispatch();

    if (workflowInfo().continueAsNewSuggested || cycle + 1 >= MAX_CYCLES_PER_RUN) {
      await continueAsNew<typeof emailQueueWorkflow>({ queueId: input.queueId, carried: { counters, lastFetchAt, lastError, cursor, degraded } });
    }

    const pollMs = settings.pollIntervalSeconds * 1000;
    const pollWaitMs = lastError === null ? pollMs : Math.min(pollMs * 2 ** (lastError.consecutive - 1), Math.max(pollMs, MAX_ERROR_BACKOFF_MS));
    nextPollAt = new Date(Date.now() + pollWaitMs).toISOString();
    // Working hours change and offers expire on durable timers inside this wait.
    await waitDispatching(pollWaitMs, () => mailArrived || configChanged || !active);
  }
}
