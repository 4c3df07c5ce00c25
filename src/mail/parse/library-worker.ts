/**
 * Worker-thread entry: parses messages with postal-mime, one request at a time, and
 * posts each result back with its request id. It runs in its own thread so that the
 * caller can terminate it when a message's time budget is spent, which a Promise
 * timeout alone cannot do to a synchronous loop inside the library.
 */
import { parentPort } from 'node:worker_threads';
import PostalMime from 'postal-mime';

interface ParseRequest {
  id: number;
  raw: Uint8Array;
}

parentPort?.on('message', (request: ParseRequest) => {
  void (async () => {
    try {
      const email = await PostalMime.parse(request.raw, { forceRfc822Attachments: true, attachmentEncoding: 'arraybuffer' });
      parentPort?.postMessage({ id: request.id, result: { ok: true, email } });
    } catch (error) {
      parentPort?.postMessage({ id: request.id, result: { ok: false, reason: error instanceof Error ? error.message : String(error) } });
    }
  })();
});
