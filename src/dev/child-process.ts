import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** Number of characters of a child's stderr kept for error messages. */
const stderrTailLength = 4000;

/** A child process whose stderr tail is kept for error messages. */
export interface ManagedChild {
  readonly process: ChildProcess;
  /** The last few thousand characters the child wrote to stderr (and stdout). */
  outputTail(): string;
  /** Resolves with the exit code (or signal name) once the child has exited. */
  readonly exited: Promise<string>;
  /** Sends SIGTERM, waits for the exit and sends SIGKILL after `killAfterMs` (default 10 s). */
  stop(killAfterMs?: number): Promise<void>;
}

/** Spawns `command` with piped output, keeping the tail of its output for diagnostics. */
export function spawnManaged(command: string, args: string[], options: SpawnOptions = {}): ManagedChild {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-stderrTailLength);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? String(code)));
    child.once('error', (error) => {
      keep(Buffer.from(`${error.message}\n`));
      resolve('spawn-error');
    });
  });

  const stop = async (killAfterMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      await exited;
      return;
    }
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  return { process: child, outputTail: () => tail, exited, stop };
}
