import type { Knex } from 'knex';
import { DEFAULT_RATE_LIMIT, type RateLimit } from '../domain/rate-limit.js';
import type { TemplateKind, TemplateSource } from '../domain/templates.js';
import type { TimeGroup } from '../domain/working-hours.js';
import { normaliseAddress } from '../domain/text.js';
import { findQueueById } from './queues.js';

/** A stored template as the sender needs it. */
export interface StoredTemplate extends TemplateSource {
  id: number;
  name: string;
  kind: TemplateKind;
}

/** Sending settings of a queue: everything outgoing mail needs except the SMTP password. */
export interface SendingProfile {
  queueId: number;
  queueNumber: number;
  queueTitle: string;
  senderAddress: string | null;
  replyTo: string | null;
  hasOutgoingServer: boolean;
  senderInfo: StoredTemplate | null;
  signature: StoredTemplate | null;
  npsSurvey: StoredTemplate | null;
  autoresponse: StoredTemplate | null;
  exceptionPatterns: string[];
  rateLimit: RateLimit;
  postprocessing: { workflowType: string; taskQueue: string; timeoutSeconds: number } | null;
  timeGroup: TimeGroup | null;
}

async function loadTemplate(db: Knex, id: number | null): Promise<StoredTemplate | null> {
  if (id === null) return null;
  const row: { id: number; name: string; kind: TemplateKind; subject: string | null; text: string; html: string | null } | undefined = await db('templates').where({ id }).first('id', 'name', 'kind', 'subject', 'text', 'html');
  return row ?? null;
}

/**
 * Loads a queue's sending settings with its templates and time group resolved.
 * Deleted queues are included, so mail they queued before deletion still goes out.
 */
export async function loadSendingProfile(db: Knex, queueId: number): Promise<SendingProfile> {
  const queue = await findQueueById(db, queueId);
  const incomingUser = queue.incoming.user;
  const senderAddress = queue.senderAddress ?? (incomingUser.includes('@') ? incomingUser : null);
  const timeGroup: { definition: TimeGroup } | undefined = queue.timeGroupId === null ? undefined : await db('time_groups').where({ id: queue.timeGroupId }).first('definition');
  return {
    queueId: queue.id,
    queueNumber: queue.number,
    queueTitle: queue.title,
    senderAddress: senderAddress === null ? null : normaliseAddress(senderAddress),
    replyTo: queue.replyTo && queue.replyTo.trim() !== '' ? queue.replyTo.trim() : null,
    hasOutgoingServer: queue.outgoing !== null,
    senderInfo: await loadTemplate(db, queue.senderInfoTemplateId),
    signature: await loadTemplate(db, queue.signatureTemplateId),
    npsSurvey: await loadTemplate(db, queue.npsTemplateId),
    autoresponse: await loadTemplate(db, queue.autoresponseTemplateId),
    exceptionPatterns: queue.autoresponseExceptions,
    rateLimit: queue.autoresponseRateLimit ?? { ...DEFAULT_RATE_LIMIT },
    postprocessing: queue.postprocessing,
    timeGroup: timeGroup?.definition ?? null,
  };
}

/** Loads every address this installation receives or sends as; mail from these is our own. */
export async function loadOwnAddresses(db: Knex): Promise<Set<string>> {
  const rows: Array<{ user: string | null; sender_address: string | null; reply_to: string | null }> = await db('queues').select(db.raw("incoming->>'user' as user"), 'sender_address', 'reply_to');
  const addresses = new Set<string>();
  for (const row of rows) {
    for (const value of [row.user, row.sender_address, row.reply_to]) {
      if (value && value.includes('@')) addresses.add(normaliseAddress(value));
    }
  }
  return addresses;
}
