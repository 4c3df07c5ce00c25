import type { Knex } from 'knex';
import {
  DEFAULT_AGENT_SETTINGS,
  defaultImapPort,
  defaultPop3Port,
  defaultSenderAddress,
  DEFAULT_POSTPROCESSING_TIMEOUT_SECONDS,
  DEFAULT_SMTP_PORT,
  providerMailHosts,
  type OAuthProviderName,
  type QueueConfig,
} from '../domain/queue-config.js';
import type { RateLimit } from '../domain/rate-limit.js';
import type { TemplateKind } from '../domain/templates.js';
import { FailureType, MailqueueError } from '../errors.js';
import { ensureCategory } from './categories.js';
import { logger } from '../logger.js';
import { decryptSecret, encryptSecret } from '../secrets.js';
import type { AccessTokenProvider } from '../mail/access-token.js';
import type { ImapConnectionSettings } from '../mail/incoming.js';
import type { Pop3ConnectionSettings } from '../mail/pop3.js';
import type { SmtpConnectionSettings, SmtpSecurity } from '../mail/smtp.js';

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
  /** Folder stored messages are moved to, or null to leave them (absent in rows written before this setting). */
  processedFolder?: string | null;
}

/** POP3 settings as stored: the password lives in `credentials`, referenced by id. */
export interface StoredPop3Incoming {
  protocol: 'pop3';
  host: string;
  port: number;
  user: string;
  credentialId: number;
  ssl: boolean;
  sslTrusted: boolean;
  dontKeepEmails: boolean;
}

/** IMAP with XOAUTH2: the token comes from the queue's OAuth2 connection. */
export interface StoredImapOAuth2Incoming {
  protocol: 'imap-oauth2';
  provider: OAuthProviderName;
  integrationId: number;
  host: string;
  port: number;
  user: string;
  ssl: boolean;
  sslTrusted: boolean;
  dontKeepEmails: boolean;
  folder: string;
  processedFolder: string | null;
}

/** Gmail API or Microsoft Graph: the mailbox address and the integration its tokens come from. */
export interface StoredCloudIncoming {
  protocol: 'gmail' | 'graph' | 'graph-tenant';
  integrationId: number;
  user: string;
  dontKeepEmails: boolean;
}

export type StoredIncoming = StoredImapIncoming | StoredPop3Incoming | StoredImapOAuth2Incoming | StoredCloudIncoming;

/** True for the protocols read by the IMAP path (folder, UIDVALIDITY, `mailbox_items`). */
export function isImapIncoming(incoming: StoredIncoming): incoming is StoredImapIncoming | StoredImapOAuth2Incoming {
  return incoming.protocol === 'imap' || incoming.protocol === 'imap-oauth2';
}

/** SMTP with XOAUTH2. `integrationId` is null when the incoming connection is shared. */
export interface StoredSmtpOAuth2Outgoing {
  protocol: 'smtp-oauth2';
  host: string;
  port: number;
  user: string;
  security: SmtpSecurity;
  sslTrusted: boolean;
  provider: OAuthProviderName;
  integrationId: number | null;
  useSameMethodAsIncoming: boolean;
}

/** Gmail API or Graph send. `integrationId` is null when the incoming connection is shared. */
export interface StoredCloudOutgoing {
  protocol: 'gmail' | 'graph';
  integrationId: number | null;
  useSameMethodAsIncoming: boolean;
}

export type StoredOutgoing = StoredSmtpOutgoing | StoredSmtpOAuth2Outgoing | StoredCloudOutgoing;

/** True for SMTP with a password or without login (rows written before protocols existed have none). */
export function isPasswordSmtpOutgoing(outgoing: StoredOutgoing): outgoing is StoredSmtpOutgoing {
  return outgoing.protocol === undefined || outgoing.protocol === 'smtp';
}

/** Outgoing settings as stored: the password lives in `credentials`, referenced by id. */
export interface StoredSmtpOutgoing {
  /** Absent in rows written before there was a choice of protocol. */
  protocol?: 'smtp';
  host: string;
  port: number;
  /** Null: send without SMTP AUTH. */
  user: string | null;
  /** Null when there is no user. */
  credentialId: number | null;
  security: SmtpSecurity;
  sslTrusted: boolean;
}

/** The Temporal workflow each composed mail is handed to instead of being sent; see docs/postprocessing-events.md. */
export interface PostprocessingSettings {
  workflowType: string;
  taskQueue: string;
  timeoutSeconds: number;
}

/** Settings for handing the queue's email activities to agents; see docs/agents-and-activities.md. */
export interface QueueAgentSettings {
  wrapUpSeconds: number;
  offerTimeoutSeconds: number;
  allowMultipleStatuses: boolean;
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
  incoming: StoredIncoming;
  /** Null when the queue sends no mail. */
  outgoing: StoredOutgoing | null;
  senderAddress: string | null;
  replyTo: string | null;
  senderInfoTemplateId: number | null;
  signatureTemplateId: number | null;
  npsTemplateId: number | null;
  autoresponseTemplateId: number | null;
  timeGroupId: number | null;
  autoresponseExceptions: string[];
  /** Null: DEFAULT_RATE_LIMIT of src/domain/rate-limit.ts. */
  autoresponseRateLimit: RateLimit | null;
  postprocessing: PostprocessingSettings | null;
  agents: QueueAgentSettings;
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
  incoming: StoredIncoming;
  outgoing: StoredOutgoing | null;
  sender_address: string | null;
  reply_to: string | null;
  sender_info_template_id: number | null;
  signature_template_id: number | null;
  nps_template_id: number | null;
  autoresponse_template_id: number | null;
  time_group_id: number | null;
  autoresponse_exceptions: string[];
  autoresponse_rate_limit: RateLimit | null;
  postprocessing: PostprocessingSettings | null;
  wrap_up_seconds: number;
  offer_timeout_seconds: number;
  allow_multiple_statuses: boolean;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

const QUEUE_TYPE_EMAIL = 'email';

const IMAP_PASSWORD_KIND = 'imap-password';
const POP3_PASSWORD_KIND = 'pop3-password';
const SMTP_PASSWORD_KIND = 'smtp-password';

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
    outgoing: row.outgoing,
    senderAddress: row.sender_address,
    replyTo: row.reply_to,
    senderInfoTemplateId: row.sender_info_template_id,
    signatureTemplateId: row.signature_template_id,
    npsTemplateId: row.nps_template_id,
    autoresponseTemplateId: row.autoresponse_template_id,
    timeGroupId: row.time_group_id,
    autoresponseExceptions: row.autoresponse_exceptions,
    autoresponseRateLimit: row.autoresponse_rate_limit,
    postprocessing: row.postprocessing,
    agents: { wrapUpSeconds: row.wrap_up_seconds, offerTimeoutSeconds: row.offer_timeout_seconds, allowMultipleStatuses: row.allow_multiple_statuses },
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    deletedAt: row.deleted_at ? row.deleted_at.toISOString() : null,
  };
}

/** Returns the next number never used by a queue of this type, deleted queues included. */
export async function suggestQueueNumber(db: Knex, type = QUEUE_TYPE_EMAIL): Promise<number> {
  const row = await db('queues').where({ type }).max<{ max: number | null }>('number as max').first();
  return (row?.max ?? 0) + 1;
}

/** The queue columns that refer to templates and time groups, by the config field that names them. */
const templateReferences: ReadonlyArray<{ field: 'senderInfoTemplate' | 'signatureTemplate' | 'npsSurveyTemplate' | 'autoresponseTemplate'; column: string; kind: TemplateKind }> = [
  { field: 'senderInfoTemplate', column: 'sender_info_template_id', kind: 'sender-info' },
  { field: 'signatureTemplate', column: 'signature_template_id', kind: 'signature' },
  { field: 'npsSurveyTemplate', column: 'nps_template_id', kind: 'nps-survey' },
  { field: 'autoresponseTemplate', column: 'autoresponse_template_id', kind: 'autoresponse' },
];

/**
 * Resolves template and time-group names to ids. Every missing name and every template of
 * the wrong kind is reported in one InvalidConfiguration error.
 */
async function resolveReferences(trx: Knex.Transaction, config: QueueConfig): Promise<Record<string, number | null>> {
  const columns: Record<string, number | null> = {};
  const errors: string[] = [];

  for (const reference of templateReferences) {
    const name = config[reference.field];
    columns[reference.column] = null;
    if (name === undefined || name === null) continue;

    const template: { id: number; kind: string } | undefined = await trx('templates').where({ name }).first('id', 'kind');
    if (!template) {
      errors.push(`${reference.field}: template "${name}" does not exist: create it with \`mailqueue templates create --file\`, or fix the name (\`mailqueue templates list\`).`);
    } else if (template.kind !== reference.kind) {
      errors.push(`${reference.field}: template "${name}" is of kind ${template.kind}: name a template of kind ${reference.kind}.`);
    } else {
      columns[reference.column] = template.id;
    }
  }

  columns.time_group_id = null;
  if (config.timeGroup !== undefined && config.timeGroup !== null) {
    const group: { id: number } | undefined = await trx('time_groups').where({ name: config.timeGroup }).first('id');
    if (!group) {
      errors.push(`timeGroup: time group "${config.timeGroup}" does not exist: create it with \`mailqueue time-groups create --file\`, or fix the name (\`mailqueue time-groups list\`).`);
    } else {
      columns.time_group_id = group.id;
    }
  }

  await resolveIntegrations(trx, config, columns, errors);

  if (errors.length > 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Queue "${config.title}" refers to missing or unsuitable records:\n  ${errors.join('\n  ')}`, { errors });
  }
  return columns;
}

/** Returns the provider an OAuth2 protocol needs, or the one the file names. */
function expectedProvider(protocol: string, named: OAuthProviderName | undefined): OAuthProviderName | undefined {
  if (protocol === 'gmail') return 'google';
  if (protocol === 'graph' || protocol === 'graph-tenant') return 'microsoft';
  return named;
}

/**
 * Resolves the integration names of the incoming and outgoing sides to ids, into the pseudo
 * columns `incoming_integration_id` and `outgoing_integration_id` (removed before the row is written).
 */
async function resolveIntegrations(trx: Knex.Transaction, config: QueueConfig, columns: Record<string, number | null>, errors: string[]): Promise<void> {
  const sides: Array<{ field: string; column: string; name: string | undefined; provider: OAuthProviderName | undefined }> = [];
  const incoming = config.incoming;
  if ('integration' in incoming) {
    sides.push({ field: 'incoming.integration', column: 'incoming_integration_id', name: incoming.integration, provider: expectedProvider(incoming.protocol, 'provider' in incoming ? incoming.provider : undefined) });
  }
  const outgoing = config.outgoing;
  if (outgoing && 'useSameMethodAsIncoming' in outgoing) {
    sides.push({ field: 'outgoing.integration', column: 'outgoing_integration_id', name: outgoing.integration, provider: expectedProvider(outgoing.protocol, 'provider' in outgoing ? outgoing.provider : undefined) });
  }

  for (const side of sides) {
    columns[side.column] = null;
    if (side.name === undefined) continue;
    const integration: { id: number; provider: string } | undefined = await trx('oauth_integrations').where({ name: side.name }).first('id', 'provider');
    if (!integration) {
      errors.push(`${side.field}: integration "${side.name}" does not exist: create it with \`mailqueue oauth integrations add\`, or fix the name (\`mailqueue oauth integrations list\`).`);
    } else if (side.provider !== undefined && integration.provider !== side.provider) {
      errors.push(`${side.field}: integration "${side.name}" is for ${integration.provider}: name a ${side.provider} integration.`);
    } else {
      columns[side.column] = integration.id;
    }
  }
}

/** Encrypts `password` into the credential row `existingId`, or a new row when that is null; returns the row id. */
async function storePassword(trx: Knex.Transaction, secretKey: Buffer, kind: string, password: string, existingId: number | null): Promise<number> {
  const ciphertext = encryptSecret(secretKey, password);
  if (existingId !== null) {
    const updated = await trx('credentials').where({ id: existingId, kind }).update({ ciphertext });
    if (updated === 1) return existingId;
  }

  const [credential] = await trx('credentials').insert({ kind, ciphertext }).returning<Array<{ id: number }>>('id');
  return credential.id;
}

function storedIncoming(config: QueueConfig, credentialId: number | null, integrationId: number | null): StoredIncoming {
  const incoming = config.incoming;
  switch (incoming.protocol) {
    case 'imap':
      return {
        protocol: 'imap',
        host: incoming.host,
        port: incoming.port ?? defaultImapPort(incoming.ssl),
        user: incoming.user,
        credentialId: requireId(credentialId, 'incoming.password'),
        ssl: incoming.ssl,
        sslTrusted: incoming.sslTrusted,
        dontKeepEmails: incoming.dontKeepEmails,
        processedFolder: incoming.processedFolder ?? null,
        folder: incoming.folder,
      };
    case 'pop3':
      return {
        protocol: 'pop3',
        host: incoming.host,
        port: incoming.port ?? defaultPop3Port(incoming.ssl),
        user: incoming.user,
        credentialId: requireId(credentialId, 'incoming.password'),
        ssl: incoming.ssl,
        sslTrusted: incoming.sslTrusted,
        dontKeepEmails: incoming.dontKeepEmails,
      };
    case 'imap-oauth2':
      return {
        protocol: 'imap-oauth2',
        provider: incoming.provider,
        integrationId: requireId(integrationId, 'incoming.integration'),
        host: incoming.host ?? providerMailHosts[incoming.provider].imap,
        port: incoming.port ?? defaultImapPort(incoming.ssl),
        user: incoming.user,
        ssl: incoming.ssl,
        sslTrusted: incoming.sslTrusted,
        dontKeepEmails: incoming.dontKeepEmails,
        folder: incoming.folder,
        processedFolder: incoming.processedFolder ?? null,
      };
    case 'gmail':
    case 'graph':
    case 'graph-tenant':
      return { protocol: incoming.protocol, integrationId: requireId(integrationId, 'incoming.integration'), user: incoming.user, dontKeepEmails: incoming.dontKeepEmails };
  }
}

function requireId(id: number | null, field: string): number {
  if (id === null) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `${field} is missing from the queue file: add it and run the command again`, { field });
  }
  return id;
}

function incomingSslTrusted(config: QueueConfig): boolean {
  return 'sslTrusted' in config.incoming ? config.incoming.sslTrusted : true;
}

function storedOutgoing(config: QueueConfig, credentialId: number | null, integrationId: number | null): StoredOutgoing | null {
  const outgoing = config.outgoing;
  if (outgoing === undefined || outgoing === null) return null;

  switch (outgoing.protocol) {
    case undefined:
    case 'smtp':
      return {
        protocol: 'smtp',
        host: outgoing.host,
        port: outgoing.port ?? DEFAULT_SMTP_PORT,
        user: outgoing.user ?? null,
        credentialId,
        security: outgoing.security ?? 'auto',
        sslTrusted: outgoing.sslTrusted ?? incomingSslTrusted(config),
      };
    case 'smtp-oauth2': {
      const provider = outgoing.provider ?? ('provider' in config.incoming ? config.incoming.provider : undefined);
      if (provider === undefined) {
        throw new MailqueueError(FailureType.InvalidConfiguration, 'outgoing.provider is missing: give "microsoft" or "google"', { field: 'outgoing.provider' });
      }
      return {
        protocol: 'smtp-oauth2',
        host: outgoing.host ?? providerMailHosts[provider].smtp,
        port: outgoing.port,
        user: outgoing.user ?? config.incoming.user,
        security: outgoing.security,
        sslTrusted: outgoing.sslTrusted ?? incomingSslTrusted(config),
        provider,
        integrationId: outgoing.useSameMethodAsIncoming ? null : requireId(integrationId, 'outgoing.integration'),
        useSameMethodAsIncoming: outgoing.useSameMethodAsIncoming,
      };
    }
    case 'gmail':
    case 'graph':
      return {
        protocol: outgoing.protocol,
        integrationId: outgoing.useSameMethodAsIncoming ? null : requireId(integrationId, 'outgoing.integration'),
        useSameMethodAsIncoming: outgoing.useSameMethodAsIncoming,
      };
  }
}

/** Returns the incoming password and its credential kind, or null for OAuth2 protocols. */
function incomingPassword(config: QueueConfig): { kind: string; password: string } | null {
  const incoming = config.incoming;
  if (incoming.protocol === 'imap') return { kind: IMAP_PASSWORD_KIND, password: incoming.password };
  if (incoming.protocol === 'pop3') return { kind: POP3_PASSWORD_KIND, password: incoming.password };
  return null;
}

function outgoingPassword(config: QueueConfig): string | undefined {
  const outgoing = config.outgoing;
  return outgoing && (outgoing.protocol === undefined || outgoing.protocol === 'smtp') ? outgoing.password : undefined;
}

function storedCredentialId(stored: StoredIncoming | StoredOutgoing | null): number | null {
  if (stored === null || !('credentialId' in stored)) return null;
  return stored.credentialId;
}

/** Returns the sender address to store; a queue that sends mail must have one. */
function resolveSenderAddress(config: QueueConfig): string | null {
  const address = config.senderAddress ?? defaultSenderAddress(config);
  if (address === null && config.outgoing) {
    throw new MailqueueError(
      FailureType.InvalidConfiguration,
      `Queue "${config.title}" sends mail but has no senderAddress, and its incoming user "${config.incoming.user}" is not a mail address: set senderAddress, e.g. support@example.com.`,
    );
  }
  return address;
}

/** Returns the reference columns of the queues table without the integration ids, which live in the settings documents. */
function tableReferences(references: Record<string, number | null>): Record<string, number | null> {
  const { incoming_integration_id: _incoming, outgoing_integration_id: _outgoing, ...columns } = references;
  return columns;
}

/** Builds the queue columns that a config sets, the same on create and update. */
function settingsColumns(config: QueueConfig, incoming: StoredIncoming, outgoing: StoredOutgoing | null, references: Record<string, number | null>): Record<string, unknown> {
  const postprocessing = config.postprocessing
    ? { ...config.postprocessing, timeoutSeconds: config.postprocessing.timeoutSeconds ?? DEFAULT_POSTPROCESSING_TIMEOUT_SECONDS }
    : null;

  return {
    title: config.title,
    description: config.description,
    category: config.category,
    poll_interval_seconds: config.pollIntervalSeconds,
    max_message_bytes: config.maxMessageBytes,
    incoming: JSON.stringify(incoming),
    outgoing: outgoing === null ? null : JSON.stringify(outgoing),
    sender_address: resolveSenderAddress(config),
    reply_to: config.replyTo === undefined || config.replyTo === '' ? null : config.replyTo,
    ...tableReferences(references),
    autoresponse_exceptions: JSON.stringify(config.autoresponseExceptions ?? []),
    autoresponse_rate_limit: config.autoresponseRateLimit ? JSON.stringify(config.autoresponseRateLimit) : null,
    postprocessing: postprocessing === null ? null : JSON.stringify(postprocessing),
    wrap_up_seconds: config.agents?.wrapUpSeconds ?? DEFAULT_AGENT_SETTINGS.wrapUpSeconds,
    offer_timeout_seconds: config.agents?.offerTimeoutSeconds ?? DEFAULT_AGENT_SETTINGS.offerTimeoutSeconds,
    allow_multiple_statuses: config.agents?.allowMultipleStatuses ?? DEFAULT_AGENT_SETTINGS.allowMultipleStatuses,
  };
}

/**
 * Returns the category name a queue stores for `requested`, creating the category when none
 * of that name exists, so rights can be granted on every queue's category. A name that exists
 * in another letter case is replaced by the existing one. Runs in the queue's transaction.
 */
async function resolveCategory(trx: Knex.Transaction, requested: string | null, queueNumber: number): Promise<string | null> {
  if (requested === null) return null;

  const ensured = await ensureCategory(trx, requested);
  if (ensured.outcome === 'created') logger.info({ queueNumber, category: ensured.name }, 'category created for queue');
  if (ensured.outcome === 'other-case') logger.info({ queueNumber, requested, category: ensured.name }, 'queue category uses existing name in other letter case');
  return ensured.name;
}

/**
 * Creates a queue and its encrypted passwords (IMAP, and SMTP when the outgoing server has
 * a login) in one transaction. Template and time-group names are resolved to ids here.
 *
 * @throws MailqueueError (InvalidConfiguration) when the number is taken, a referenced
 *   template or time group is missing or of the wrong kind, or a sending queue has no sender address.
 */
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

    const references = await resolveReferences(trx, config);
    const password = incomingPassword(config);
    const incomingCredentialId = password === null ? null : await storePassword(trx, secretKey, password.kind, password.password, null);
    const smtpPassword = outgoingPassword(config);
    const outgoingCredentialId = smtpPassword === undefined ? null : await storePassword(trx, secretKey, SMTP_PASSWORD_KIND, smtpPassword, null);

    const incoming = storedIncoming(config, incomingCredentialId, references.incoming_integration_id ?? null);
    const outgoing = storedOutgoing(config, outgoingCredentialId, references.outgoing_integration_id ?? null);
    const category = await resolveCategory(trx, config.category, number);

    const [row] = await trx('queues')
      .insert({
        type: QUEUE_TYPE_EMAIL,
        number,
        active: config.active,
        ...settingsColumns({ ...config, category }, incoming, outgoing, references),
      })
      .returning<QueueRow[]>('*');
    return toRecord(row);
  });
}

/**
 * Replaces the settings of queue `number` with `config`, validated like on create.
 * `active` is left alone: pausing and resuming go through `mailqueue queue pause/resume`,
 * which also signal the running workflow. Passwords are re-encrypted into the existing
 * credential rows; an SMTP password that the new config drops is deleted.
 * The caller sends the `configChanged` signal so a running workflow reloads the queue.
 *
 * @throws MailqueueError (QueueNotFound) when no live queue has that number;
 *   (InvalidConfiguration) when `config.number` names another queue, or a reference is missing.
 */
export async function updateQueue(db: Knex, secretKey: Buffer, number: number, config: QueueConfig): Promise<QueueRecord> {
  if (config.number !== undefined && config.number !== number) {
    throw new MailqueueError(
      FailureType.InvalidConfiguration,
      `The queue file says number ${config.number} but queue ${number} is being updated: remove "number" from the file or make it ${number}; a queue's number never changes.`,
      { number, fileNumber: config.number },
    );
  }

  return db.transaction(async (trx) => {
    const current: QueueRow | undefined = await trx('queues').where({ type: QUEUE_TYPE_EMAIL, number }).whereNull('deleted_at').forUpdate().first();
    if (!current) {
      throw new MailqueueError(FailureType.QueueNotFound, `Queue ${number} does not exist (or was deleted): run \`mailqueue queue list\` to see the queues`, { number });
    }

    const references = await resolveReferences(trx, config);
    const previousIncomingCredentialId = storedCredentialId(current.incoming);
    const password = incomingPassword(config);
    const incomingCredentialId = password === null ? null : await storePassword(trx, secretKey, password.kind, password.password, previousIncomingCredentialId);

    const previousOutgoingCredentialId = storedCredentialId(current.outgoing);
    const smtpPassword = outgoingPassword(config);
    const outgoingCredentialId = smtpPassword === undefined ? null : await storePassword(trx, secretKey, SMTP_PASSWORD_KIND, smtpPassword, previousOutgoingCredentialId);

    const incoming = storedIncoming(config, incomingCredentialId, references.incoming_integration_id ?? null);
    const outgoing = storedOutgoing(config, outgoingCredentialId, references.outgoing_integration_id ?? null);
    const category = await resolveCategory(trx, config.category, number);

    const [row] = await trx('queues')
      .where({ id: current.id })
      .update({ ...settingsColumns({ ...config, category }, incoming, outgoing, references), updated_at: trx.fn.now() })
      .returning<QueueRow[]>('*');

    if (previousOutgoingCredentialId !== null && outgoingCredentialId !== previousOutgoingCredentialId) {
      await trx('credentials').where({ id: previousOutgoingCredentialId, kind: SMTP_PASSWORD_KIND }).delete();
    }
    if (previousIncomingCredentialId !== null && incomingCredentialId !== previousIncomingCredentialId) {
      await trx('credentials').where({ id: previousIncomingCredentialId }).whereIn('kind', [IMAP_PASSWORD_KIND, POP3_PASSWORD_KIND]).delete();
    }
    return toRecord(row);
  });
}

/**
 * Replaces the stored password of a live queue's incoming or outgoing login, re-encrypted
 * under `secretKey`, in one transaction. The caller sends `configChanged` so a running
 * workflow picks the new password up on its next connection.
 *
 * @throws MailqueueError (QueueNotFound) when no live queue has that number;
 *   (InvalidConfiguration) for `outgoing` when the queue has no outgoing server or sends without login.
 */
export async function setQueuePassword(db: Knex, secretKey: Buffer, number: number, side: 'incoming' | 'outgoing', password: string): Promise<void> {
  if (password === '') {
    throw new MailqueueError(FailureType.InvalidConfiguration, 'password must not be empty', { number });
  }

  await db.transaction(async (trx) => {
    const current: QueueRow | undefined = await trx('queues').where({ type: QUEUE_TYPE_EMAIL, number }).whereNull('deleted_at').forUpdate().first();
    if (!current) {
      throw new MailqueueError(FailureType.QueueNotFound, `Queue ${number} does not exist (or was deleted): run \`mailqueue queue list\` to see the queues`, { number });
    }

    if (side === 'incoming') {
      if (current.incoming.protocol !== 'imap' && current.incoming.protocol !== 'pop3') {
        throw new MailqueueError(
          FailureType.InvalidConfiguration,
          `Queue ${number} reads mail over ${current.incoming.protocol}, which signs in with OAuth2 and has no password: run \`mailqueue oauth connect --queue ${number}\` instead`,
          { number },
        );
      }
      const kind = current.incoming.protocol === 'pop3' ? POP3_PASSWORD_KIND : IMAP_PASSWORD_KIND;
      const credentialId = await storePassword(trx, secretKey, kind, password, current.incoming.credentialId);
      if (credentialId !== current.incoming.credentialId) {
        await trx('queues').where({ id: current.id }).update({ incoming: JSON.stringify({ ...current.incoming, credentialId }), updated_at: trx.fn.now() });
      }
      return;
    }

    const outgoing = current.outgoing;
    if (outgoing === null || !isPasswordSmtpOutgoing(outgoing) || outgoing.user === null) {
      const reason = outgoing === null ? 'has no outgoing server' : !isPasswordSmtpOutgoing(outgoing) ? `sends over ${outgoing.protocol} with OAuth2` : 'sends without login';
      throw new MailqueueError(
        FailureType.InvalidConfiguration,
        `Queue ${number} ${reason}, so it has no outgoing password: set "outgoing" with user and password in the queue document instead`,
        { number },
      );
    }
    const credentialId = await storePassword(trx, secretKey, SMTP_PASSWORD_KIND, password, outgoing.credentialId);
    if (credentialId !== outgoing.credentialId) {
      await trx('queues').where({ id: current.id }).update({ outgoing: JSON.stringify({ ...outgoing, credentialId }), updated_at: trx.fn.now() });
    }
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

/** Loads a queue by id, deleted or not; a missing id raises QueueNotFound. */
export async function findQueueById(db: Knex, id: number): Promise<QueueRecord> {
  const row: QueueRow | undefined = await db('queues').where({ id }).first();
  if (!row) {
    throw new MailqueueError(FailureType.QueueNotFound, `Queue with id ${id} does not exist`, { queueId: id });
  }
  return toRecord(row);
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

/**
 * Marks a queue deleted. Its offers not yet accepted go back to waiting in the same
 * transaction: the queue workflow ends with the queue, so nothing would expire them, and
 * a stale offer would hold a place of the agent's capacity for good. Open activities stay
 * with their agents, who close them as usual.
 */
export async function softDeleteQueue(db: Knex, id: number): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('queues').where({ id }).update({ active: false, deleted_at: trx.fn.now(), updated_at: trx.fn.now() });
    await trx('email_activities')
      .where({ queue_id: id, state: 'offered' })
      .update({ state: 'waiting', agent_user_id: null, offer_id: null, offered_at: null, offer_expires_at: null });
  });
}

export async function countStoredSecrets(db: Knex): Promise<number> {
  const row = await db('credentials').count<{ count: string | number }>('id as count').first();
  return Number(row?.count ?? 0);
}

async function decryptCredential(db: Knex, secretKey: Buffer, queue: QueueRecord, credentialId: number): Promise<string> {
  const credential: { ciphertext: string } | undefined = await db('credentials').where({ id: credentialId }).first('ciphertext');
  if (!credential) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Queue ${queue.number} refers to a missing password record; set the password again with \`mailqueue queue update ${queue.number} --file\``, { queueId: queue.id });
  }
  return decryptSecret(secretKey, credential.ciphertext);
}

/**
 * Returns everything an IMAP adapter needs, with the password decrypted or, for `imap-oauth2`,
 * a fresh access token from `tokens`. Activity-side only.
 *
 * @throws MailqueueError (InvalidConfiguration) when the queue does not read over IMAP, its password
 *   record is missing, or an `imap-oauth2` queue is loaded without a token provider.
 */
export async function loadImapConnection(db: Knex, secretKey: Buffer, queue: QueueRecord, tokens?: AccessTokenProvider): Promise<ImapConnectionSettings> {
  const incoming = queue.incoming;
  if (incoming.protocol === 'imap') {
    return {
      host: incoming.host,
      port: incoming.port,
      user: incoming.user,
      password: await decryptCredential(db, secretKey, queue, incoming.credentialId),
      ssl: incoming.ssl,
      sslTrusted: incoming.sslTrusted,
    };
  }
  if (incoming.protocol === 'imap-oauth2' && tokens !== undefined) {
    return {
      host: incoming.host,
      port: incoming.port,
      user: incoming.user,
      password: '',
      accessToken: await tokens.getAccessToken(),
      ssl: incoming.ssl,
      sslTrusted: incoming.sslTrusted,
    };
  }
  throw new MailqueueError(FailureType.InvalidConfiguration, `Queue ${queue.number} reads mail over ${incoming.protocol}, not over IMAP with a password`, { queueId: queue.id, protocol: incoming.protocol });
}

/** Decrypts the POP3 password and returns everything the POP3 adapter needs. Activity-side only. */
export async function loadPop3Connection(db: Knex, secretKey: Buffer, queue: QueueRecord): Promise<Pop3ConnectionSettings> {
  const incoming = queue.incoming;
  if (incoming.protocol !== 'pop3') {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Queue ${queue.number} reads mail over ${incoming.protocol}, not POP3`, { queueId: queue.id });
  }
  return {
    host: incoming.host,
    port: incoming.port,
    user: incoming.user,
    password: await decryptCredential(db, secretKey, queue, incoming.credentialId),
    ssl: incoming.ssl,
    sslTrusted: incoming.sslTrusted,
  };
}

/**
 * Decrypts the queue's SMTP password and returns everything the SMTP adapter needs. Activity-side only.
 *
 * @throws MailqueueError (InvalidConfiguration) when the queue has no outgoing server or its
 *   password record is missing.
 */
export async function loadSmtpConnection(db: Knex, secretKey: Buffer, queue: QueueRecord): Promise<SmtpConnectionSettings> {
  const outgoing = queue.outgoing;
  if (outgoing === null) {
    throw new MailqueueError(
      FailureType.InvalidConfiguration,
      `Queue ${queue.number} "${queue.title}" has no outgoing server: add "outgoing" to its queue file and run \`mailqueue queue update ${queue.number} --file\``,
      { queueId: queue.id },
    );
  }
  if (!isPasswordSmtpOutgoing(outgoing)) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Queue ${queue.number} sends mail over ${outgoing.protocol}, not SMTP with a password`, { queueId: queue.id, protocol: outgoing.protocol });
  }

  let password: string | null = null;
  if (outgoing.credentialId !== null) {
    const credential: { ciphertext: string } | undefined = await db('credentials').where({ id: outgoing.credentialId }).first('ciphertext');
    if (!credential) {
      throw new MailqueueError(FailureType.InvalidConfiguration, `Queue ${queue.number} refers to a missing SMTP password record: set the password again with \`mailqueue queue update ${queue.number} --file\``, { queueId: queue.id });
    }
    password = decryptSecret(secretKey, credential.ciphertext);
  }

  return {
    host: outgoing.host,
    port: outgoing.port,
    user: outgoing.user,
    password,
    sslTrusted: outgoing.sslTrusted,
    security: outgoing.security,
  };
}
