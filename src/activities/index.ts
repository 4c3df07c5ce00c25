import { findConnection } from '../db/oauth.js';
import { getQueueById, isImapIncoming, type QueueRecord } from '../db/queues.js';
import type { QueueAccount } from '../workflows/queue-definitions.js';
import { createAgentActivities } from './agents.js';
import { removeStoredFromFolder, type DeleteResult } from './remove-stored.js';
import { fetchNewMail, type FetchDependencies, type FetchResult } from './fetch.js';
import { translateFailures } from './failures.js';
import { threadPendingMessages, type ThreadResult } from './thread.js';
import { routePendingMessages, type RouteResult } from './route.js';
import { summariseOutbox, type OutboxSummary } from '../db/outbox.js';
import { loadSendingProfile } from '../db/sending-profile.js';
import type { TimeGroup } from '../domain/working-hours.js';
import { decideAutoresponses, type RespondResult } from './respond.js';
import {
  failOutbox,
  markHandedToEvent,
  readComposedMail,
  replaceComposedMail,
  routeOutbox,
  sendOutboxMail,
  type ComposedMail,
  type OutboxRoute,
  type SendDependencies,
  type SendOutcome,
} from './send.js';

/** The non-secret queue settings the workflow runs on. */
export interface QueueRuntimeSettings {
  queueId: number;
  number: number;
  title: string;
  active: boolean;
  pollIntervalSeconds: number;
  dontKeepEmails: boolean;
  /** Folder stored messages are moved to, or null. */
  processedFolder: string | null;
  /** Working hours, or null when the queue is always open. */
  timeGroup: TimeGroup | null;
  /** The OAuth2 account of the incoming side, or null for password protocols. Absent in histories recorded before. */
  account?: QueueAccount | null;
}

/**
 * Describes the incoming OAuth2 account of a queue from its connection row, without any token.
 * NOTE: a separate outgoing connection is not described here, so its degraded state shows only in
 * `mailqueue oauth status` and in the outbox's last error, not in the queue status.
 */
async function describeAccount(db: ActivityDependencies['db'], queue: QueueRecord): Promise<QueueAccount | null> {
  const incoming = queue.incoming;
  if (incoming.protocol === 'graph-tenant') return { protocol: incoming.protocol, address: incoming.user, state: 'application' };
  if (incoming.protocol !== 'imap-oauth2' && incoming.protocol !== 'gmail' && incoming.protocol !== 'graph') return null;
  const connection = await findConnection(db, queue.id, 'incoming');
  return { protocol: incoming.protocol, address: connection?.accountAddress ?? incoming.user, state: connection?.state ?? 'pending' };
}

export type ActivityDependencies = FetchDependencies & SendDependencies;

/**
 * Builds the queue activities around their dependencies. Every activity takes and
 * returns ids and counts only; secrets are loaded and decrypted inside.
 */
export function createActivities(deps: ActivityDependencies) {
  return {
    ...createAgentActivities(deps),

    async loadQueueSettings(queueId: number): Promise<QueueRuntimeSettings> {
      return translateFailures(async () => {
        const queue = await getQueueById(deps.db, queueId);
        const profile = await loadSendingProfile(deps.db, queueId);
        return {
          timeGroup: profile.timeGroup,
          queueId: queue.id,
          number: queue.number,
          title: queue.title,
          active: queue.active,
          pollIntervalSeconds: queue.pollIntervalSeconds,
          // Other protocols delete inside the fetch activity, in the same session (POP3 DELE + QUIT).
          dontKeepEmails: isImapIncoming(queue.incoming) && queue.incoming.dontKeepEmails,
          processedFolder: isImapIncoming(queue.incoming) ? (queue.incoming.processedFolder ?? null) : null,
          account: await describeAccount(deps.db, queue),
        };
      });
    },

    async fetchNewMail(queueId: number): Promise<FetchResult> {
      return translateFailures(() => fetchNewMail(deps, queueId));
    },

    async threadPendingMessages(queueId: number): Promise<ThreadResult> {
      return translateFailures(() => threadPendingMessages(deps.db, queueId, deps.logger));
    },

    /** @param open working hours state held by the workflow: false closed, null no time group. */
    async routePendingMessages(queueId: number, open: boolean | null): Promise<RouteResult> {
      return translateFailures(() => routePendingMessages(deps.db, queueId, open, deps.logger));
    },

    async removeStoredFromFolder(queueId: number): Promise<DeleteResult> {
      return translateFailures(() => removeStoredFromFolder(deps, queueId));
    },

    /** @param open working hours state held by the workflow: false closed, null no time group. */
    async decideAutoresponses(queueId: number, open: boolean | null): Promise<RespondResult> {
      return translateFailures(() => decideAutoresponses(deps.db, queueId, open, deps.logger));
    },

    async summariseOutbox(queueId: number): Promise<OutboxSummary> {
      return translateFailures(() => summariseOutbox(deps.db, queueId));
    },

    async routeOutbox(outboxId: number): Promise<OutboxRoute> {
      return translateFailures(() => routeOutbox(deps, outboxId));
    },

    async markHandedToEvent(outboxId: number): Promise<void> {
      return translateFailures(() => markHandedToEvent(deps, outboxId));
    },

    async failOutbox(outboxId: number, reason: string): Promise<SendOutcome> {
      return translateFailures(() => failOutbox(deps, outboxId, reason));
    },
  };
}

/**
 * Activities a postprocessing event calls (on the `mailqueue` task queue) to read,
 * change and send the mail it was handed. docs/postprocessing-events.md has the contract.
 */
export function createOutboxActivities(deps: SendDependencies) {
  return {
    async readComposedMail(outboxId: number): Promise<ComposedMail> {
      return translateFailures(() => readComposedMail(deps, outboxId));
    },

    async replaceComposedMail(outboxId: number, rawBase64: string): Promise<void> {
      return translateFailures(() => replaceComposedMail(deps, outboxId, rawBase64));
    },

    async sendOutboxMail(outboxId: number): Promise<SendOutcome> {
      return translateFailures(() => sendOutboxMail(deps, outboxId));
    },
  };
}

export type OutboxActivities = ReturnType<typeof createOutboxActivities>;

export type QueueActivities = ReturnType<typeof createActivities>;
export type { OutboxSummary };
export type { ComposedMail, DeleteResult, FetchResult, OutboxRoute, RespondResult, RouteResult, SendOutcome, ThreadResult };
