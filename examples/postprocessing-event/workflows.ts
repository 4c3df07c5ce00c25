import { proxyActivities } from '@temporalio/workflow';
import type { OutboxActivities } from '../../src/activities/index.js';
import type { OutboxDeliveryInput } from '../../src/workflows/outbox-delivery-workflow.js';
import type { SampleEventActivities } from './activities.js';

// mailqueue's own activities run on its task queue; the event only names them.
const mailqueue = proxyActivities<OutboxActivities>({
  taskQueue: 'mailqueue',
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', maximumAttempts: 20 },
});

// The event's own activities run on the event's task queue, on the event's worker.
const local = proxyActivities<SampleEventActivities>({ startToCloseTimeout: '1 minute' });

/**
 * Prefixes the subject of every mail the queue composes, then sends it: a sample
 * postprocessing event, started by mailqueue with `{ outboxId }`.
 */
export async function subjectPrefixEvent(input: OutboxDeliveryInput): Promise<void> {
  const composed = await mailqueue.readComposedMail(input.outboxId);
  const rewritten = await local.prefixSubject(composed.rawBase64, '[Reviewed]');
  await mailqueue.replaceComposedMail(input.outboxId, rewritten);
  await mailqueue.sendOutboxMail(input.outboxId);
}
