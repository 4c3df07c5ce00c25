import type { Knex } from 'knex';
import { DEFAULT_RATE_LIMIT, type RateLimit } from '../domain/rate-limit.js';
import type { TemplateKind, TemplateSource } from '../domain/templates.js';
import type { TimeGroup } from '../domain/working-hours.js';
import { normaliseAddress } from '../domain/text.js';

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

interface QueueSendingRow {
  id: number;
  number: number;
  title: string;
  incoming: { user?: string } | null;
  outgoing: unknown;
  sender_address: string | null;
  reply_to: string | null;
  sender_info_template_id: number | null;
  signature_template_id: number | null;
  nps_template_id: number | null;
  autoresponse_template_id: number | null;
  time_group_id: number | null;
  autoresponse_exceptions: string[] | null;
  autoresponse_rate_limit: RateLimit | null;
  postprocessing: { workflowType: string; taskQueue: string; timeoutSeconds?: number } | null;
}

async function loadTemplate(db: Knex, id: number | null): Promise<StoredTemplate | null> {
  if (id === null) return null;
  const row: { id: number; name: string; kind: TemplateKind; subject: string | null; text: string; html: string | null } | undefined = await db('templates').where({ id }).first('id', 'name', 'kind', 'subject', 'text', 'html');
  return row ?? null;
}

export async function loadSendingProfile(db: Knex, queueId: number): Promise<SendingProfile> {
  const row: QueueSendingRow = await db('queues').where({ id: queueId }).first();
  const incomingUser = row.incoming?.user ?? '';
  const senderAddress = row.sender_address ?? (incomingUser.includes('@') ? incomingUser : null);
  const timeGroup: { definition: TimeGroup } | undefined = row.time_group_id === null ? undefined : await db('time_groups').where({ id: row.time_group_id }).first('definition');
  return {
    queueId: row.id,
    queueNumber: row.number,
    queueTitle: row.title,
    senderAddress: senderAddress === null ? null : normaliseAddress(senderAddress),
    replyTo: row.reply_to && row.reply_to.trim() !== '' ? row.reply_to.trim() : null,
    hasOutgoingServer: row.outgoing !== null && row.outgoing !== undefined,
    senderInfo: await loadTemplate(db, row.sender_info_template_id),
    signature: await loadTemplate(db, row.signature_template_id),
    npsSurvey: await loadTemplate(db, row.nps_template_id),
    autoresponse: await loadTemplate(db, row.autoresponse_template_id),
    exceptionPatterns: row.autoresponse_exceptions ?? [],
    rateLimit: row.autoresponse_rate_limit ?? { ...DEFAULT_RATE_LIMIT },
    postprocessing: row.postprocessing ? { ...row.postprocessing, timeoutSeconds: row.postprocessing.timeoutSeconds ?? 600 } : null,
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
