import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { saveAgentState, type AgentStateSnapshot, type SaveAgentStateResult } from '../db/agent-states.js';
import { createActivitiesForQueue, dispatchQueue, type CreateActivitiesResult, type DispatchResult } from '../db/email-activities.js';
import { translateFailures } from './failures.js';

/**
 * Activities of email activities and agents. Times come from the calling workflow's clock
 * (epoch milliseconds), so a retry decides exactly as the first attempt and a time-skipping
 * test server moves offers and wrap-ups with its own time.
 */
export function createAgentActivities(deps: { db: Knex; logger: Logger }) {
  return {
    async createEmailActivities(queueId: number): Promise<CreateActivitiesResult> {
      return translateFailures(() => createActivitiesForQueue(deps.db, queueId, deps.logger));
    },

    /**
     * @param atMs workflow time of the round.
     * @param open working hours state: false closed (no new offers), null no time group.
     * @param dispatchKey names the round, so a retry recognises its committed offers.
     */
    async dispatchQueue(queueId: number, atMs: number, open: boolean | null, dispatchKey: string): Promise<DispatchResult> {
      return translateFailures(() => dispatchQueue(deps.db, queueId, new Date(atMs), open, dispatchKey, deps.logger.child({ queueId })));
    },

    async saveAgentState(snapshot: AgentStateSnapshot): Promise<SaveAgentStateResult> {
      return translateFailures(() => saveAgentState(deps.db, snapshot));
    },
  };
}

export type AgentActivities = ReturnType<typeof createAgentActivities>;
export type { AgentStateSnapshot, CreateActivitiesResult, DispatchResult, SaveAgentStateResult };
