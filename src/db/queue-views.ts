import type { Knex } from 'knex';
import type { QueueRecord } from './queues.js';
import { listTemplates } from './templates.js';
import { listTimeGroups } from './time-groups.js';

/**
 * The outside form of a queue, shared by `mailqueue queue --json` and the HTTP API:
 * the field names of the queue file, template and time-group names instead of ids,
 * and never a password or credential id.
 */

/** Names of templates and time groups by id, so queue output shows the names a queue file uses. */
export interface QueueReferenceNames {
  templates: ReadonlyMap<number, string>;
  timeGroups: ReadonlyMap<number, string>;
}

/** Loads the names of every template and time group. */
export async function loadQueueReferenceNames(db: Knex): Promise<QueueReferenceNames> {
  const [templates, timeGroups] = await Promise.all([listTemplates(db), listTimeGroups(db)]);
  return {
    templates: new Map(templates.map((template) => [template.id, template.name])),
    timeGroups: new Map(timeGroups.map((group) => [group.id, group.name])),
  };
}

function nameOf(names: ReadonlyMap<number, string>, id: number | null): string | null {
  return id === null ? null : (names.get(id) ?? `(missing id ${id})`);
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
    incoming: {
      protocol: queue.incoming.protocol,
      host: queue.incoming.host,
      port: queue.incoming.port,
      user: queue.incoming.user,
      ssl: queue.incoming.ssl,
      sslTrusted: queue.incoming.sslTrusted,
      dontKeepEmails: queue.incoming.dontKeepEmails,
      processedFolder: queue.incoming.processedFolder ?? null,
      folder: queue.incoming.folder,
    },
    outgoing: queue.outgoing === null
      ? null
      : {
          host: queue.outgoing.host,
          port: queue.outgoing.port,
          user: queue.outgoing.user,
          security: queue.outgoing.security,
          sslTrusted: queue.outgoing.sslTrusted,
        },
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
    workflowId: `email-queue-${queue.number}`,
    createdAt: queue.createdAt,
    deletedAt: queue.deletedAt,
  };
}
