import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, executeChild, log, proxyActivities, TimeoutFailure } from '@temporalio/workflow';
import type { OutboxActivities, QueueActivities } from '../activities/index.js';

/** Input of the delivery workflow and of every postprocessing event. */
export interface OutboxDeliveryInput {
  outboxId: number;
}

export const outboxDeliveryWorkflowId = (outboxId: number): string => `outbox-${outboxId}`;

const bookkeeping = proxyActivities<QueueActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
});

// Temporary SMTP failures retry with backoff for up to two days, as mail servers do.
// Permanent ones come back as a `failed` outcome, not as an error.
const delivery = proxyActivities<OutboxActivities>({
  startToCloseTimeout: '5 minutes',
  scheduleToCloseTimeout: '2 days',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '30 minutes' },
});

function describe(error: unknown): string {
  let current: unknown = error;
  while (current instanceof ActivityFailure || current instanceof ChildWorkflowFailure) current = current.cause;
  if (current instanceof TimeoutFailure) return `timed out (${current.timeoutType})`;
  if (current instanceof ApplicationFailure) return `${current.type ?? 'failure'}: ${current.message}`;
  return current instanceof Error ? current.message : String(current);
}

/**
 * Delivers one outbox row: directly over SMTP, or by handing it to the queue's
 * postprocessing event, a workflow of the configured type on the configured task
 * queue that is then responsible for sending. An event that cannot run or ends
 * without sending leaves the row failed with the reason, never lost.
 */
export async function outboxDeliveryWorkflow(input: OutboxDeliveryInput): Promise<string> {
  const route = await bookkeeping.routeOutbox(input.outboxId);
  if (route.mode === 'done') return route.state;

  if (route.mode === 'direct') {
    try {
      const outcome = await delivery.sendOutboxMail(input.outboxId);
      return outcome.state;
    } catch (error) {
      const reason = `gave up after retries: ${describe(error)}`;
      await bookkeeping.failOutbox(input.outboxId, reason);
      return 'failed';
    }
  }

  await bookkeeping.markHandedToEvent(input.outboxId);
  try {
    await executeChild(route.workflowType, {
      taskQueue: route.taskQueue,
      workflowId: `${outboxDeliveryWorkflowId(input.outboxId)}-event`,
      args: [{ outboxId: input.outboxId } satisfies OutboxDeliveryInput],
      workflowExecutionTimeout: route.timeoutSeconds * 1000,
    });
  } catch (error) {
    const reason = `postprocessing event ${route.workflowType} on task queue ${route.taskQueue} did not complete: ${describe(error)}. Check that a worker polls that task queue with that workflow type registered.`;
    log.warn('postprocessing event failed', { outboxId: input.outboxId, workflowType: route.workflowType, taskQueue: route.taskQueue });
    const outcome = await bookkeeping.failOutbox(input.outboxId, reason);
    return outcome.state;
  }

  // The event finished; if it did not send the mail, say so instead of leaving it waiting.
  const after = await bookkeeping.routeOutbox(input.outboxId);
  if (after.mode === 'done') return after.state;
  const outcome = await bookkeeping.failOutbox(input.outboxId, `postprocessing event ${route.workflowType} finished without sending the mail`);
  return outcome.state;
}
