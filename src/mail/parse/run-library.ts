import { Worker } from 'node:worker_threads';
import type { Email } from 'postal-mime';

export type LibraryResult = { ok: true; email: Email } | { ok: false; reason: string };

/** Heap cap for one parse; a message that needs more is treated as malformed. */
const workerHeapMb = 512;

/**
 * Parses `raw` with postal-mime in a worker thread and terminates the worker when
 * `timeoutMs` (milliseconds) passes, so a message that makes the library loop cannot
 * stall the caller. Never rejects: failures come back as `{ ok: false, reason }`.
 */
export function runLibraryParse(raw: Buffer, timeoutMs: number): Promise<LibraryResult> {
  return new Promise((resolve) => {
    let settled = false;
    let worker: Worker;

    const settle = (result: LibraryResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve(result);
    };

    try {
      worker = new Worker(new URL('./library-worker.js', import.meta.url), {
        workerData: new Uint8Array(raw),
        resourceLimits: { maxOldGenerationSizeMb: workerHeapMb },
      });
    } catch (error) {
      resolve({ ok: false, reason: `parser worker did not start: ${error instanceof Error ? error.message : String(error)}` });
      return;
    }

    const timer = setTimeout(() => settle({ ok: false, reason: `parse timed out after ${timeoutMs} ms` }), timeoutMs);
    worker.on('message', (message: LibraryResult) => settle(message));
    worker.on('error', (error: Error) => settle({ ok: false, reason: `parser worker failed: ${error.message}` }));
    worker.on('exit', (code) => settle({ ok: false, reason: `parser worker exited with code ${code} before answering` }));
  });
}
