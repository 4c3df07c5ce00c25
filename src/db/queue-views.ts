import type { Knex } from 'knex';
import { listIntegrations } from './oauth.js';
import type { QueueRecord, StoredIncoming, StoredOutgoing } from './queues.js';
import { listTemplates } from './templates.js';
import { listTimeGroups } from './time-groups.js';

/**
 * The outside form of a queue, shared by `mailqueue queue --json` and the HTTP API:
 * the field names of the queue file, template and time-group names instead of ids,
 * and never a password or credential id.
 */

/** Names of templates, time groups and OAuth2 integrations by id, so queue output shows the names a queue file uses. */
export interface QueueReferenceNames {
  templates: ReadonlyMap<number, string>;
  timeGroups: ReadonlyMap<number, string>;
  integrations: ReadonlyMap<number, string>;
}

/** Loads the names of every template, time group and integration. */
export async function loadQueueReferenceNames(db: Knex): Promise<QueueReferenceNames> {
  const [templates, timeGroups, integrations] = await Promise.all([listTemplates(db), listTimeGroups(db), listIntegrations(db)]);
  return {
    templates: new Map(templates.map((template) => [template.id, template.name])),
    timeGroups: new Map(timeGroups.map((group) => [group.id, group.name])),
    integrations: new Map(integrations.map((integration) => [integration.id, integration.name])),
  };
}

function nameOf(names: ReadonlyMap<number, string>, id: number | null): string | null {
  return id === null ? null : (names.get(id) ?? `(missing id ${id})`);
}

/**
 * Returns a stored settings document in queue-file field names: without its credential id,
 * and with the integration's name instead of its id, so the document can be sent back as is.
 */
function withoutSecretReferences(stored: StoredIncoming | StoredOutgoing, names: QueueReferenceNames): Record<string, unknown> {
  const { credentialId: _credentialId, integrationId, ...fields } = stored as StoredIncoming & { credentialId?: number | null; integrationId?: number | null };
  const integration = integrationId === undefined || integrationId === null ? {} : { integration: nameOf(names.integrations, integrationId) };
  return { ...fields, ...integration, protocol: stored.protocol ?? 'smtp', ...('folder' in stored ? { processedFolder: stored.processedFolder ?? null } : {}) };
}

/** Returns one line naming where a queue reads mail from. */
export function mailboxSummary(incoming: StoredIncoming): string {
  if ('folder' in incoming) return `${incoming.user}@${incoming.host}:${incoming.port}/${incoming.folder}`;
  if ('host' in incoming) return `${incoming.protocol}:${incoming.user}@${incoming.host}:${incoming.port}`;
  return `${incoming.protocol}:${incoming.user}`;
}

/** Builds the `--json` form of a queue: the field names of the queue file, without secrets. */
export function queueJson(queue: QueueRecord, names: QueueReferenceNames) {
  return {
    number: queue.number,
    title: queue.title,
    description: queue.description,
    active: queue.active,
    category: queue.category,
    pollIntervalSeconds: queue.pollIntervalSeconds,
    maxMessageBytes: queue.maxMessageBytes,
    incoming: withoutSecretReferences(queue.incoming, names),
    outgoing: queue.outgoing === null ? null : withoutSecretReferences(queue.outgoing, names),
    senderAddress: queue.senderAddress,
    replyTo: queue.replyTo,
    senderInfoTemplate: nameOf(names.templates, queue.senderInfoTemplateId),
    signatureTemplate: nameOf(names.templates, queue.signatureTemplateId),
    npsSurveyTemplate: nameOf(names.templates, queue.npsTemplateId),
    autoresponseTemplate: nameOf(names.templates, queue.autoresponseTemplateId),
    timeGroup: nameOf(names.timeGroups, queue.timeGroupId),
    autoresponseExceptions: queue.autoresponseExceptions,
    autoresponseRateLimit: queue.autoresponseRateLimit,
    postprocessing: queue.postprocessing,
    agents: queue.agents,
    workflowId: `email-queue-${queue.number}`,
    createdAt: queue.createdAt,
    deletedAt: queue.deletedAt,
  };
}
