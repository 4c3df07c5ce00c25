import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { sampleEventActivities } from './activities.js';

/** Task queue the sample event's worker polls; name it in the queue's `postprocessing.taskQueue`. */
export const SAMPLE_EVENT_TASK_QUEUE = 'mailqueue-sample-event';

/** Creates the worker that runs the sample event (workflow `subjectPrefixEvent`). */
export async function createSampleEventWorker(address: string, namespace = 'default', taskQueue = SAMPLE_EVENT_TASK_QUEUE): Promise<Worker> {
  const connection = await NativeConnection.connect({ address });
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    workflowsPath: fileURLToPath(new URL('./workflows.js', import.meta.url)),
    activities: sampleEventActivities,
  });
}

// Run directly: TEMPORAL_ADDRESS=127.0.0.1:7233 node dist/examples/postprocessing-event/worker.js
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const worker = await createSampleEventWorker(process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233', process.env.TEMPORAL_NAMESPACE ?? 'default');
  await worker.run();
}
