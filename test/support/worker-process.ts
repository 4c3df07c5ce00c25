import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { pino } from 'pino';
import { createActivities, createOutboxActivities } from '../../src/activities/index.js';
import { TASK_QUEUE } from '../../src/config.js';
import { createDatabase } from '../../src/db/knex.js';
import { connectImap } from '../../src/mail/imap.js';
import { sendRawMail } from '../../src/mail/smtp.js';
import { parseSecretKey } from '../../src/secrets.js';
import { workflowsPath } from '../../src/worker.js';

/** Line the child prints on stdout once its worker polls. */
const READY_LINE = 'worker-process-ready';

export interface WorkerProcessOptions {
  temporalAddress: string;
  databaseUrl: string;
  /** MAILQUEUE_SECRET_KEY as text. */
  secretKey: string;
  /**
   * Name of an activity (e.g. `summariseOutbox`) at whose first call the process kills
   * itself with SIGKILL before doing any work: a crash at a chosen point.
   */
  crashInActivity?: string;
  /**
   * Name of an activity whose first call does its work (commits) and then kills the
   * process before the result reaches Temporal: the retry must find the committed work.
   */
  crashAfterActivity?: string;
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves with the exit code, or the signal name, when the process ends. */
  exited: Promise<number | string>;
  /** Kills the process (SIGKILL) and waits for it to end. */
  kill(): Promise<void>;
}

/** Starts a mailqueue worker in a child process and resolves once it polls the task queue. */
export async function startWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: options.temporalAddress,
      DATABASE_URL: options.databaseUrl,
      MAILQUEUE_SECRET_KEY: options.secretKey,
      WORKER_PROCESS_CRASH_IN: options.crashInActivity ?? '',
      WORKER_PROCESS_CRASH_AFTER: options.crashAfterActivity ?? '',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));

  await new Promise<void>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (output.includes(READY_LINE)) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    void exited.then((code) => reject(new Error(`Worker process ended (${code}) before it was ready; its output: ${output.slice(-500)}`)));
  });

  return {
    child,
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Runs the child side: a worker with the real activities, one of them optionally crashing. */
async function runChild(): Promise<void> {
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'warn' });
  const db = createDatabase(process.env.DATABASE_URL ?? '');
  const secretKey = parseSecretKey(process.env.MAILQUEUE_SECRET_KEY ?? '');
  const deps = { db, logger, connectImap, sendRawMail, secretKey: () => secretKey };
  const activities: Record<string, (...args: never[]) => Promise<unknown>> = { ...createActivities(deps), ...createOutboxActivities(deps) };

  const crashIn = process.env.WORKER_PROCESS_CRASH_IN ?? '';
  if (crashIn !== '') {
    const original = activities[crashIn];
    if (original === undefined) throw new Error(`WORKER_PROCESS_CRASH_IN names no activity: ${crashIn}`);
    activities[crashIn] = async () => {
      logger.warn({ activity: crashIn }, 'worker process crashes on purpose');
      process.kill(process.pid, 'SIGKILL');
      return new Promise<never>(() => undefined);
    };
  }

  const crashAfter = process.env.WORKER_PROCESS_CRASH_AFTER ?? '';
  if (crashAfter !== '') {
    const original = activities[crashAfter];
    if (original === undefined) throw new Error(`WORKER_PROCESS_CRASH_AFTER names no activity: ${crashAfter}`);
    activities[crashAfter] = async (...args: never[]) => {
      await original(...args);
      logger.warn({ activity: crashAfter }, 'worker process crashes on purpose after the work committed');
      process.kill(process.pid, 'SIGKILL');
      return new Promise<never>(() => undefined);
    };
  }

  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '' });
  const worker = await Worker.create({ connection, namespace: 'default', taskQueue: TASK_QUEUE, workflowsPath, activities });
  process.stdout.write(`${READY_LINE}\n`);
  await worker.run();
  await db.destroy();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runChild();
}
