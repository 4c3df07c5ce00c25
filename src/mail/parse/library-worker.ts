/**
 * Worker-thread entry: parses one message with postal-mime and posts the result back.
 * Runs in its own thread so that the caller can terminate it when the time budget is spent,
 * which a Promise timeout alone cannot do to a synchronous loop inside the library.
 */
import { parentPort, workerData } from 'node:worker_threads';
import PostalMime from 'postal-mime';

async function run(): Promise<void> {
  const raw = workerData as Uint8Array;
  try {
    const email = await PostalMime.parse(raw, { forceRfc822Attachments: true, attachmentEncoding: 'arraybuffer' });
    parentPort?.postMessage({ ok: true, email });
  } catch (error) {
    parentPort?.postMessage({ ok: false, reason: error instanceof Error ? error.message : String(error) });
  }
}

void run();
