import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import type { DovecotServer } from '../../src/dev/dovecot.js';
import { startCaptureSmtpServer, type CaptureSmtpServer } from '../support/smtp-capture.js';
import { newSecretKey, startTestDatabase, startTestDovecot, startTestTemporal, startTestWorker } from '../support/environment.js';

/** Mailboxes of the cases' installation: the support queue's and a second (billing) queue's. */
export const supportMailbox = { user: 'support@helpdesk.example.com', password: 'support-case-password' };
export const billingMailbox = { user: 'billing@helpdesk.example.com', password: 'billing-case-password' };

export interface CaseEnvironment {
  db: Knex;
  client: Client;
  dovecot: DovecotServer;
  /** Receives everything the queues send. */
  smtp: CaptureSmtpServer;
  secretKey: Buffer;
  stop(): Promise<void>;
}

/** Starts PostgreSQL, the Temporal dev server, Dovecot, an SMTP server and a worker, once for all cases. */
export async function startCaseEnvironment(): Promise<CaseEnvironment> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    for (const action of stops.reverse()) await action().catch(() => undefined);
  };
  try {
    const database = await startTestDatabase();
    stops.push(database.stop);
    const temporal = await startTestTemporal();
    stops.push(temporal.stop);
    const mail = await startTestDovecot([supportMailbox, billingMailbox]);
    stops.push(mail.stop);
    const smtp = await startCaptureSmtpServer({ mode: 'plain' });
    stops.push(() => smtp.close());
    const secretKey = newSecretKey();
    const worker = await startTestWorker({ temporalAddress: temporal.address, db: database.db, secretKey });
    stops.push(worker.stop);
    return { db: database.db, client: temporal.client, dovecot: mail.dovecot, smtp, secretKey, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
