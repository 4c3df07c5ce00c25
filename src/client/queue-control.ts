import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TASK_QUEUE } from '../config.js';
import type { QueueRecord } from '../db/queues.js';
import { configChangedSignal, mailArrivedSignal, queueWorkflowId, setActiveSignal, statusQuery, type QueueStatus } from '../workflows/queue-definitions.js';
import { emailQueueWorkflow } from '../workflows/queue-workflow.js';
import { outboxDeliveryWorkflow, outboxDeliveryWorkflowId } from '../workflows/outbox-delivery-workflow.js';
import { queueActiveKey, queueNumberKey, queueTitleKey } from '../workflows/search-attributes.js';

/** Temporal-side operations on a queue's workflow, shared by the CLI, the dev stack and tests. */

export interface StartOutcome {
  workflowId: string;
  /** False when the workflow was already running: starting is idempotent. */
  started: boolean;
}

/** Starts the queue's workflow unless it already runs; a running workflow is left unchanged. */
export async function startQueueWorkflow(client: Client, queue: QueueRecord, taskQueue: string = TASK_QUEUE): Promise<StartOutcome> {
  const workflowId = queueWorkflowId(queue.number);
  const handle = client.workflow.getHandle(workflowId);
  try {
    const description = await handle.describe();
    if (description.status.name === 'RUNNING') {
      return { workflowId, started: false };
    }
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
  }

  await client.workflow.start(emailQueueWorkflow, {
    workflowId,
    taskQueue,
    args: [{ queueId: queue.id }],
    // A start that races with another start attaches to the running workflow.
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: [
      { key: queueNumberKey, value: queue.number },
      { key: queueTitleKey, value: queue.title },
      { key: queueActiveKey, value: queue.active },
    ],
  });
  return { workflowId, started: true };
}

/** Runs `send` against the running workflow; returns false when none runs. */
async function withRunningWorkflow(client: Client, queueNumber: number, send: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<void>): Promise<boolean> {
  const handle = client.workflow.getHandle(queueWorkflowId(queueNumber));
  try {
    await send(handle);
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

export function signalSetActive(client: Client, queueNumber: number, active: boolean): Promise<boolean> {
  return withRunningWorkflow(client, queueNumber, (handle) => handle.signal(setActiveSignal, active));
}

export function signalMailArrived(client: Client, queueNumber: number): Promise<boolean> {
  return withRunningWorkflow(client, queueNumber, (handle) => handle.signal(mailArrivedSignal));
}

export function signalConfigChanged(client: Client, queueNumber: number): Promise<boolean> {
  return withRunningWorkflow(client, queueNumber, (handle) => handle.signal(configChangedSignal));
}

/** Queries the workflow's `status`; returns null when no workflow runs for the queue. */
export async function queryQueueStatus(client: Client, queueNumber: number): Promise<QueueStatus | null> {
  const handle = client.workflow.getHandle(queueWorkflowId(queueNumber));
  try {
    return await handle.query(statusQuery);
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return null;
    throw error;
  }
}

/** Starts delivery of one outbox row; a delivery already running for the row is left alone. */
export async function startOutboxDelivery(client: Client, outboxId: number, taskQueue: string = TASK_QUEUE): Promise<string> {
  const workflowId = outboxDeliveryWorkflowId(outboxId);
  await client.workflow.start(outboxDeliveryWorkflow, {
    workflowId,
    taskQueue,
    args: [{ outboxId }],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  return workflowId;
}
