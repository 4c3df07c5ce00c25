import { condition, continueAsNew, getExternalWorkflowHandle, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import { extendWrapUp, inWrapUp, wrapUpRemainingMs } from '../domain/wrap-up.js';
import type { AgentActivities } from '../activities/agents.js';
import {
  activityFinishedSignal,
  agentStateQuery,
  DEFAULT_AGENT_CAPACITY,
  loginSignal,
  LOGGED_OUT_REASON,
  logoutSignal,
  NOT_READY_REASON,
  pauseSignal,
  readySignal,
  type AgentStatus,
  type AgentWorkflowInput,
  type CarriedAgentState,
} from './agent-definitions.js';
import { agentAvailableSignal, queueWorkflowId } from './queue-definitions.js';

const activities = proxyActivities<AgentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes: ['InvalidConfiguration'] },
});

/** Finished activity ids remembered to ignore a repeated signal. */
const RECENT_FINISHED_LIMIT = 100;
/** Loop turns before continue-as-new even if the server does not suggest it. */
const MAX_TURNS_PER_RUN = 2000;

function initialState(): CarriedAgentState {
  return {
    queues: [],
    ready: false,
    pauseReason: NOT_READY_REASON,
    capacity: DEFAULT_AGENT_CAPACITY,
    wrapUpUntilMs: null,
    wrapUpRunning: false,
    idleSinceMs: null,
    finishedCount: 0,
    recentFinished: [],
    savePending: false,
    notifyQueueNumbers: [],
  };
}

/**
 * Holds one agent's live state: logged-in queues, ready or paused, capacity and wrap-up.
 * Every change is written to the database (`saveAgentState`), where dispatch reads it;
 * wrap-up is a durable timer. When the agent may take work again, the queues it is
 * logged in to are signalled so they dispatch at once.
 */
export async function agentWorkflow(input: AgentWorkflowInput): Promise<void> {
  const state: CarriedAgentState = { ...initialState(), ...input.carried };
  const notify = new Set<number>(state.notifyQueueNumbers);
  const allQueueNumbers = (): number[] => state.queues.map((queue) => queue.queueNumber);

  setHandler(loginSignal, (request) => {
    for (const queue of request.queues) {
      if (!state.queues.some((known) => known.queueId === queue.queueId)) state.queues.push(queue);
      notify.add(queue.queueNumber);
    }
    if (request.capacity !== undefined) state.capacity = request.capacity;
    if (state.pauseReason === LOGGED_OUT_REASON) state.pauseReason = NOT_READY_REASON;
    state.savePending = true;
  });

  // Leaving or pausing returns open offers to their queues (in saveAgentState); those
  // queues are signalled after the save so they offer them to someone else.
  setHandler(logoutSignal, (request) => {
    for (const queue of state.queues) {
      if (request.queueIds === null || request.queueIds.includes(queue.queueId)) notify.add(queue.queueNumber);
    }
    state.queues = request.queueIds === null ? [] : state.queues.filter((queue) => !request.queueIds?.includes(queue.queueId));
    if (state.queues.length === 0) {
      state.ready = false;
      state.pauseReason = LOGGED_OUT_REASON;
    }
    state.savePending = true;
  });

  setHandler(readySignal, () => {
    if (!state.ready) state.idleSinceMs = Math.max(state.idleSinceMs ?? 0, Date.now());
    state.ready = true;
    state.pauseReason = null;
    for (const number of allQueueNumbers()) notify.add(number);
    state.savePending = true;
  });

  setHandler(pauseSignal, (reason) => {
    for (const number of allQueueNumbers()) notify.add(number);
    state.ready = false;
    state.pauseReason = reason;
    state.savePending = true;
  });

  setHandler(activityFinishedSignal, (request) => {
    if (state.recentFinished.includes(request.activityId)) return;
    state.recentFinished = [...state.recentFinished, request.activityId].slice(-RECENT_FINISHED_LIMIT);
    state.finishedCount += 1;
    state.wrapUpUntilMs = extendWrapUp(state.wrapUpUntilMs, Date.parse(request.finishedAt), request.wrapUpSeconds);
    state.wrapUpRunning = true;
    state.savePending = true;
  });

  setHandler(agentStateQuery, (): AgentStatus => ({
    userId: input.userId,
    queues: state.queues,
    ready: state.ready,
    pauseReason: state.pauseReason,
    capacity: state.capacity,
    wrapUpUntil: state.wrapUpUntilMs === null ? null : new Date(state.wrapUpUntilMs).toISOString(),
    inWrapUp: state.wrapUpRunning,
    idleSince: state.idleSinceMs === null ? null : new Date(state.idleSinceMs).toISOString(),
    finishedCount: state.finishedCount,
    savePending: state.savePending,
  }));

  for (let turn = 0; ; turn++) {
    // The wrap-up is the timeout of this wait: a durable timer that survives worker restarts.
    const wrapUpLeftMs = state.wrapUpRunning ? wrapUpRemainingMs(state.wrapUpUntilMs, Date.now()) : 0;
    if (state.wrapUpRunning && wrapUpLeftMs > 0) {
      await condition(() => state.savePending || notify.size > 0, wrapUpLeftMs);
    } else if (!state.wrapUpRunning) {
      await condition(() => state.savePending || notify.size > 0 || state.wrapUpRunning);
    }

    if (state.wrapUpRunning && !inWrapUp(state.wrapUpUntilMs, Date.now())) {
      state.wrapUpRunning = false;
      state.idleSinceMs = Math.max(state.idleSinceMs ?? 0, state.wrapUpUntilMs ?? Date.now());
      state.savePending = true;
      for (const number of allQueueNumbers()) notify.add(number);
      log.info('agent wrap-up ended', { userId: input.userId, paused: !state.ready });
    }

    if (state.savePending) {
      state.savePending = false;
      const sentQueueIds = state.queues.map((queue) => queue.queueId);
      try {
        const saved = await activities.saveAgentState({
          userId: input.userId,
          capacity: state.capacity,
          ready: state.ready,
          pauseReason: state.pauseReason,
          wrapUpUntilMs: state.wrapUpUntilMs,
          idleSinceMs: state.idleSinceMs,
          queueIds: sentQueueIds,
        });
        // A queue the agent may no longer use is dropped too. A queue added by a login that
        // arrived during the save stays: the next save checks it.
        state.queues = state.queues.filter((queue) => !sentQueueIds.includes(queue.queueId) || saved.queueIds.includes(queue.queueId));
        for (const queueId of saved.returnedOfferQueueIds) {
          const ref = state.queues.find((queue) => queue.queueId === queueId);
          if (ref !== undefined) notify.add(ref.queueNumber);
        }
      } catch (error) {
        log.warn('agent state not saved', { userId: input.userId, error: error instanceof Error ? error.message : String(error) });
      }
    }

    // Queues are signalled only after the save that contains every change so far: a change that
    // arrived during the save (say `ready` during the login's save) is saved first.
    const signalQueues = state.savePending ? [] : [...notify];
    for (const number of signalQueues) {
      notify.delete(number);
      try {
        await getExternalWorkflowHandle(queueWorkflowId(number)).signal(agentAvailableSignal);
      } catch (error) {
        // A queue whose workflow is not running dispatches when it starts.
        log.info('queue not signalled', { userId: input.userId, queueNumber: number, error: error instanceof Error ? error.message : String(error) });
      }
    }

    if ((workflowInfo().continueAsNewSuggested || turn + 1 >= MAX_TURNS_PER_RUN) && !state.savePending && notify.size === 0) {
      await continueAsNew<typeof agentWorkflow>({ userId: input.userId, carried: { ...state, notifyQueueNumbers: [] } });
    }
  }
}
