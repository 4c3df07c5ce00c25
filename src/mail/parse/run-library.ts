import { Worker } from 'node:worker_threads';
import type { Email } from 'postal-mime';

export type LibraryResult = { ok: true; email: Email } | { ok: false; reason: string };

/** Heap cap of the parser thread; a message that needs more is treated as malformed. */
const workerHeapMb = 512;

interface Job {
  id: number;
  raw: Buffer;
  timeoutMs: number;
  resolve: (result: LibraryResult) => void;
}

/**
 * One long-lived parser thread that takes messages one at a time. Starting a thread
 * costs about 50 ms, so it is kept between messages and replaced only after a
 * message timed out or crashed it. The thread is unreferenced while idle, so it
 * never keeps the process alive.
 */
class LibraryParserThread {
  private worker: Worker | null = null;
  private readonly waiting: Job[] = [];
  private current: { job: Job; timer: NodeJS.Timeout } | null = null;
  private nextId = 1;

  parse(raw: Buffer, timeoutMs: number): Promise<LibraryResult> {
    return new Promise((resolve) => {
      this.waiting.push({ id: this.nextId++, raw, timeoutMs, resolve });
      this.startNext();
    });
  }

  private startNext(): void {
    if (this.current !== null) return;
    const job = this.waiting.shift();
    if (job === undefined) return;

    let worker: Worker;
    try {
      worker = this.ensureWorker();
    } catch (error) {
      job.resolve({ ok: false, reason: `parser worker did not start: ${error instanceof Error ? error.message : String(error)}` });
      this.startNext();
      return;
    }
    // The budget starts when the thread takes the message, not while it waits in line.
    const timer = setTimeout(() => this.finish({ ok: false, reason: `parse timed out after ${job.timeoutMs} ms` }, true), job.timeoutMs);
    this.current = { job, timer };
    worker.ref();
    const bytes = new Uint8Array(job.raw);
    worker.postMessage({ id: job.id, raw: bytes }, [bytes.buffer]);
  }

  private ensureWorker(): Worker {
    if (this.worker !== null) return this.worker;
    const worker = new Worker(new URL('./library-worker.js', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: workerHeapMb } });
    worker.on('message', (message: { id: number; result: LibraryResult }) => {
      if (this.current?.job.id === message.id) this.finish(message.result, false);
    });
    worker.on('error', (error: Error) => {
      if (this.worker === worker) this.finish({ ok: false, reason: `parser worker failed: ${error.message}` }, true);
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.finish({ ok: false, reason: `parser worker exited with code ${code} before answering` }, true);
    });
    this.worker = worker;
    return worker;
  }

  /** Settles the current job; `replaceWorker` ends the thread (it timed out or broke) so the next job gets a fresh one. */
  private finish(result: LibraryResult, replaceWorker: boolean): void {
    const current = this.current;
    if (current === null) {
      if (replaceWorker) this.dropWorker();
      return;
    }
    clearTimeout(current.timer);
    this.current = null;
    if (replaceWorker) {
      this.dropWorker();
    } else {
      this.worker?.unref();
    }
    current.job.resolve(result);
    this.startNext();
  }

  private dropWorker(): void {
    const worker = this.worker;
    this.worker = null;
    if (worker !== null) void worker.terminate();
  }
}

const parserThread = new LibraryParserThread();

/**
 * Parses `raw` with postal-mime in the parser thread and replaces that thread when
 * `timeoutMs` (milliseconds) passes, so a message that makes the library loop cannot
 * stall the caller. Never rejects: failures come back as `{ ok: false, reason }`.
 */
export function runLibraryParse(raw: Buffer, timeoutMs: number): Promise<LibraryResult> {
  return parserThread.parse(raw, timeoutMs);
}
