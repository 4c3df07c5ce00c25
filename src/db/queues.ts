import type { Knex } from 'knex';
import { defaultImapPort, type QueueConfig } from '../domain/queue-config.js';
import { FailureType, MailqueueError } from '../errors.js';
import { decryptSecret, encryptSecret } from '../secrets.js';
import type { ImapConnectionSettings } from '../mail/incoming.js';

/** Incoming settings as stored: the password lives in `credentials`, referenced by id. */
export interface StoredImapIncoming {
  protocol: 'imap';
  host: string;
  port: number;
  user: string;
  credentialId: number;
  ssl: boolean;
  sslTrusted: boolean;
  dontKeepEmails: boolean;
  folder: string;
}

export interface QueueRecord {
  id: number;
  type: string;
  number: number;
  title: string;
  description: string;
  active: boolean;
  category: string | null;
  pollIntervalSeconds: number;
  maxMessageBytes: number;
  incoming: StoredImapIncoming;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
}

interface QueueRow {
  id: number;
  type: string;
  number: number;
  title: string;
  description: string;
  active: boolean;
  category: string | null;
  poll_interval_seconds: number;
  max_message_bytes: number;
  incoming: StoredImapIncoming;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

const QUEUE_TYPE_EMAIL = 'email';

function toRecord(row: QueueRow): QueueRecord {
  return {
    id: row.id,
    type: row.type,
    number: row.number,
    title: row.title,
    description: row.description,
    active: row.active,
    category: row.category,
    pollIntervalSeconds: row.poll_interval_seconds,
    maxMessageBytes: row.max_message_bytes,
    incoming: row.incoming,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    deletedAt: row.deleted_at ? row.deleted_at.toISOString() : null,
  };
}

/** The next number never used by a queue of this type, deleted queues included. */
export async function suggestQueueNumber(db: Knex, type = QUEUE_TYPE_EMAIL): Promise<number> {
  const row = await db('queues').where({ type }).max<{ max: number | null }>('number as max').first();
  return (row?.max ?? 0) + 1;
}

/** Creates a queue and its encrypted password in one transaction. */
export async function createQueue(db: Knex, secretKey: Buffer, config: QueueConfig): Promise<QueueRecord> {
  return db.transaction(async (trx) => {
    // Serialise number allocation so two concurrent creates cannot pick the same free number.
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', ['mailqueue:queue-number']);

    const number = config.number ?? (await suggestQueueNumber(trx));
    const taken = await trx('queues').where({ type: QUEUE_TYPE_EMAIL, number }).first<QueueRow | undefined>();
    if (taken) {
      const state = taken.deleted_at ? 'a deleted queue' : `queue "${taken.title}"`;
      throw new MailqueueError(
        FailureType.InvalidConfiguration,
        `Queue number ${number} is already used by ${state}; numbers are never reused. Run \`mailqueue queue suggest-number\` for a free one.`,
        { number },
      );
    }

    const [credential] = await trx('credentials')
      .insert({ kind: 'imap-password', ciphertext: encryptSecret(secretKey, config.incoming.password) })
      .returning<Array<{ id: number }>>('id');

    const incoming: StoredImapIncoming = {
      protocol: 'imap',
      host: config.incoming.host,
      port: config.incoming.port ?? defaultImapPort(config.incoming.ssl),
      user: config.incoming.user,
      credentialId: credential.id,
      ssl: config.incoming.ssl,
      sslTrusted: config.incoming.sslTrusted,
      dontKeepEmails: config.incoming.dontKeepEmails,
      folder: config.incoming.folder,
    };

    const [row] = await trx('queues')
      .insert({
        type: QUEUE_TYPE_EMAIL,
        number,
        title: config.title,
        description: config.description,
        active: config.active,
        category: config.category,
        poll_interval_seconds: config.pollIntervalSeconds,
        max_message_bytes: config.maxMessageBytes,
        incoming: JSON.stringify(incoming),
      })
      .returning<QueueRow[]>('*');
    return toRecord(row);
  });
}

export async function listQueues(db: Knex, options: { includeDeleted?: boolean } = {}): Promise<QueueRecord[]> {
  const query = db('queues').where({ type: QUEUE_TYPE_EMAIL }).orderBy('number');
  if (!options.includeDeleted) {
    query.whereNull('deleted_at');
  }
  const rows: QueueRow[] = await query.select('*');
  return rows.map(toRecord);
}

export async function findQueueByNumber(db: Knex, number: number, options: { includeDeleted?: boolean } = {}): Promise<QueueRecord | null> {
  const query = db('queues').where({ type: QUEUE_TYPE_EMAIL, number });
  if (!options.includeDeleted) {
    query.whereNull('deleted_at');
  }
  const row: QueueRow | undefined = await query.first();
  return row ? toRecord(row) : null;
}

/** Loads a queue that must exist; a deleted queue counts as missing. */
export async function getQueueById(db: Knex, id: number): Promise<QueueRecord> {
  const row: QueueRow | undefined = await db('queues').where({ id }).whereNull('deleted_at').first();
  if (!row) {
    throw new MailqueueError(FailureType.QueueNotFound, `Queue with id ${id} does not exist or was deleted`, { queueId: id });
  }
  return toRecord(row);
}

export async function requireQueueByNumber(db: Knex, number: number): Promise<QueueRecord> {
  const queue = await findQueueByNumber(db, number);
  if (!queue) {
    throw new MailqueueError(FailureType.QueueNotFound, `Queue ${number} does not exist (or was deleted): run \`mailqueue queue list\` to see the queues`, { number });
  }
  return queue;
}

export async function setQueueActive(db: Knex, id: number, active: boolean): Promise<void> {
  await db('queues').where({ id }).update({ active, updated_at: db.fn.now() });
}

export async function softDeleteQueue(db: Knex, id: number): Promise<void> {
  await db('queues').where({ id }).update({ active: false, deleted_at: db.fn.now(), updated_at: db.fn.now() });
}

export async function countStoredSecrets(db: Knex): Promise<number> {
  const row = await db('credentials').count<{ count: string | number }>('id as count').first();
  return Number(row?.count ?? 0);
}

/** Decrypts the queue's password and returns everything an IMAP adapter needs. Activity-side only. */
export async function loadImapConnection(db: Knex, secretKey: Buffer, queue: QueueRecord): Promise<ImapConnectionSettings> {
  const credential: { ciphertext: string } | undefined = await db('credentials').where({ id: queue.incoming.credentialId }).first('ciphertext');
  if (!credential) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Queue ${queue.number} refers to a missing password record; recreate the queue`, { queueId: queue.id });
  }
  return {
    host: queue.incoming.host,
    port: queue.incoming.port,
    user: queue.incoming.user,
    password: decryptSecret(secretKey, credential.ciphertext),
    ssl: queue.incoming.ssl,
    sslTrusted: queue.incoming.sslTrusted,
  };
}
