import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Knex } from 'knex';

import type { ImapIncomingConfig, QueueConfig } from '../../src/domain/queue-config.js';
import type { ImapConnectionSettings } from '../../src/mail/incoming.js';
import { queueWorkflowId } from '../../src/workflows/queue-definitions.js';

/** A mailbox on the test Dovecot: its login doubles as the queue's address. */
export interface TestMailbox {
  user: string;
  password: string;
}

/**
 * Builds a small plain-text customer message with CRLF line ends.
 * `tag` and `index` make its Message-ID and subject unique.
 */
export function customerMessage(tag: string, index: number, to: string): Buffer {
  return Buffer.from(
    [
      `From: Customer ${index} <customer${index}@example.org>`,
      `To: ${to}`,
      `Subject: ${tag} question ${index}`,
      `Message-ID: <${tag}-${index}@example.org>`,
      'Date: Mon, 02 Mar 2026 10:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      `Hello, this is question ${index} for ${tag}.`,
      '',
    ].join('\r\n'),
  );
}

/** IMAP settings for the admin helpers (append, list UIDs) on the plain port. */
export function adminSettings(host: string, port: number, mailbox: TestMailbox): ImapConnectionSettings {
  return { host, port, user: mailbox.user, password: mailbox.password, ssl: false, sslTrusted: false };
}

/** Builds a queue file for `mailbox` on the local Dovecot, with an hour's poll interval so only signals fetch. */
export function queueConfigFor(number: number, mailbox: TestMailbox, server: { host: string; port: number }, incoming: Partial<ImapIncomingConfig> = {}): QueueConfig {
  return {
    number,
    title: `Queue ${number}`,
    description: '',
    active: true,
    category: null,
    pollIntervalSeconds: 3600,
    maxMessageBytes: 26_214_400,
    incoming: {
      protocol: 'imap',
      host: server.host,
      port: server.port,
      user: mailbox.user,
      password: mailbox.password,
      ssl: false,
      sslTrusted: false,
      dontKeepEmails: false,
      folder: 'INBOX',
      ...incoming,
    },
  };
}

/** Counts rows of `table` matching `where`. */
export async function countRows(db: Knex, table: string, where: Record<string, unknown>): Promise<number> {
  const row = await db(table).where(where).count<{ count: string }>('id as count').first();
  return Number(row?.count ?? 0);
}

const { temporal } = proto;
type History = proto.temporal.api.history.v1.IHistory;

/**
 * Converts a history to plain JSON (protobufjs `toObject` form: 64-bit numbers and bytes as strings).
 * NOTE: `historyToJSON`/`historyFromJSON` of @temporalio/common throw "type must be a Type" in this
 * install, because @temporalio/common and @temporalio/proto each carry their own protobufjs copy.
 */
export function historyToPlain(history: History): Record<string, unknown> {
  const message = temporal.api.history.v1.History.fromObject(history);
  return temporal.api.history.v1.History.toObject(message, { longs: String, enums: String, bytes: String });
}

/** Converts `historyToPlain` output back to a History message for `Worker.runReplayHistory`. */
export function historyFromPlain(plain: unknown): proto.temporal.api.history.v1.History {
  return temporal.api.history.v1.History.fromObject(plain as Record<string, unknown>);
}

/** Fetches the event history of a workflow's latest run as JSON text, to search it for secrets. */
export async function historyJson(client: Client, workflowId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return JSON.stringify(historyToPlain(history));
}

/** Workflow id of queue `number`, re-exported so tests spell it one way. */
export const workflowIdOf = queueWorkflowId;

/** Resolves after `ms` milliseconds; only for checks that something does NOT happen. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
