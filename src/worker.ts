import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { createActivities, createOutboxActivities } from './activities/index.js';
import { TASK_QUEUE } from './config.js';
import { countStoredSecrets } from './db/queues.js';
import { FailureType, MailqueueError } from './errors.js';
import { connectImap } from './mail/imap.js';
import { sendRawMail } from './mail/smtp.js';

export interface WorkerOptions {
  temporalAddress: string;
  namespace: string;
  db: Knex;
  /** Parsed MAILQUEUE_SECRET_KEY, or null when none is configured. */
  secretKey: Buffer | null;
  logger: Logger;
  /** Defaults to the `mailqueue` task queue. */
  taskQueue?: string;
}

let runtimeInstalled = false;

/** Routes the Temporal SDK's own log lines into pino, once per process. */
function installRuntimeLogger(logger: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const sdkLogger = logger.child({ component: 'temporal-sdk' });
  const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };
  Runtime.install({
    logger: new DefaultLogger('INFO', (entry) => {
      sdkLogger[levels[entry.level]]({ ...entry.meta }, entry.message);
    }),
  });
}

/** Path of the compiled workflow entry point that the worker bundles. */
export const workflowsPath = fileURLToPath(new URL('./workflows/index.js', import.meta.url));

/**
 * Creates a worker for the queue workflows and activities. Refuses to start when
 * secrets are stored but no key is configured, instead of failing on the first fetch.
 */
export async function createWorker(options: WorkerOptions): Promise<Worker> {
  if (options.secretKey === null && (await countStoredSecrets(options.db)) > 0) {
    throw new MailqueueError(
      FailureType.SecretKeyInvalid,
      'MAILQUEUE_SECRET_KEY is not set but the database holds encrypted passwords: set it to the key they were saved with',
    );
  }
  installRuntimeLogger(options.logger);

  const secretKey = options.secretKey;
  const dependencies = {
    db: options.db,
    logger: options.logger,
    connectImap,
    sendRawMail,
    secretKey: () => {
      if (secretKey === null) {
        throw new MailqueueError(FailureType.SecretKeyInvalid, 'MAILQUEUE_SECRET_KEY is not set: the worker cannot decrypt mailbox passwords');
      }
      return secretKey;
    },
  };
  const activities = { ...createActivities(dependencies), ...createOutboxActivities(dependencies) };

  const connection = await NativeConnection.connect({ address: options.temporalAddress });
  return Worker.create({
    connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    workflowsPath,
    activities,
  });
}
