import { getQueueById } from '../db/queues.js';
import { deleteStoredFromServer, type DeleteResult } from './delete.js';
import { fetchNewMail, type FetchDependencies, type FetchResult } from './fetch.js';
import { translateFailures } from './failures.js';
import { threadPendingMessages, type ThreadResult } from './thread.js';

/** The non-secret queue settings the workflow runs on. */
export interface QueueRuntimeSettings {
  queueId: number;
  number: number;
  title: string;
  active: boolean;
  pollIntervalSeconds: number;
  dontKeepEmails: boolean;
}

export type ActivityDependencies = FetchDependencies;

/**
 * Builds the queue activities around their dependencies. Every activity takes and
 * returns ids and counts only; secrets are loaded and decrypted inside.
 */
export function createActivities(deps: ActivityDependencies) {
  return {
    async loadQueueSettings(queueId: number): Promise<QueueRuntimeSettings> {
      return translateFailures(async () => {
        const queue = await getQueueById(deps.db, queueId);
        return {
          queueId: queue.id,
          number: queue.number,
          title: queue.title,
          active: queue.active,
          pollIntervalSeconds: queue.pollIntervalSeconds,
          dontKeepEmails: queue.incoming.dontKeepEmails,
        };
      });
    },

    async fetchNewMail(queueId: number): Promise<FetchResult> {
      return translateFailures(() => fetchNewMail(deps, queueId));
    },

    async threadPendingMessages(queueId: number): Promise<ThreadResult> {
      return translateFailures(() => threadPendingMessages(deps.db, queueId, deps.logger));
    },

    async deleteStoredFromServer(queueId: number): Promise<DeleteResult> {
      return translateFailures(() => deleteStoredFromServer(deps, queueId));
    },
  };
}

export type QueueActivities = ReturnType<typeof createActivities>;
export type { DeleteResult, FetchResult, ThreadResult };
