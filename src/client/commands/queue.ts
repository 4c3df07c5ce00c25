import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { Knex } from 'knex';
import { createQueue, findQueueByNumber, listQueues, requireQueueByNumber, setQueueActive, softDeleteQueue, suggestQueueNumber, updateQueue, type QueueRecord } from '../../db/queues.js';
import { listTemplates } from '../../db/templates.js';
import { listTimeGroups } from '../../db/time-groups.js';
import { validateQueueConfig } from '../../domain/queue-config.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, terminalSafe } from '../output.js';
import { queryQueueStatus, signalConfigChanged, signalMailArrived, signalSetActive, startQueueWorkflow } from '../queue-control.js';

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
    agents: queue.agents,
    workflowId: `email-queue-${queue.number}`,
    createdAt: queue.createdAt,
    deletedAt: queue.deletedAt,
  };
}

function parseQueueNumber(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    throw new Error(`Invalid queue number "${value}": use a positive whole number, as shown by \`mailqueue queue list\``);
  }
  return number;
}

/** Flattens nested objects to `outgoing.host`-style keys and lists to comma-separated text; null and undefined values are left out. */
function flattenForDisplay(value: Record<string, unknown>, prefix = ''): Array<[string, string]> {
  const lines: Array<[string, string]> = [];
  for (const [key, entry] of Object.entries(value)) {
    if (entry === null || entry === undefined) continue;

    const name = `${prefix}${key}`;
    if (Array.isArray(entry)) lines.push([name, entry.map(String).join(', ')]);
    else if (typeof entry === 'object') lines.push(...flattenForDisplay(entry as Record<string, unknown>, `${name}.`));
    else lines.push([name, String(entry)]);
  }
  return lines;
}

/** Reads and validates a queue file; throws one line per bad field. */
export async function readQueueFile(path: string) {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`Cannot read queue file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new Error(`Queue file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const result = validateQueueConfig(document);
  if (result.config === null) {
    throw new Error(`Queue file ${path} is invalid:\n  ${result.errors.join('\n  ')}\nSee docs/queue-config.md for every field.`);
  }
  return result.config;
}

export function registerQueueCommands(program: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  const queue = program.command('queue').description('create, inspect and control email queues');

  queue
    .command('create')
    .description('create a queue from a JSON file (see docs/queue-config.md)')
    .requiredOption('--file <path>', 'queue definition in JSON')
    .option('--start', 'start its workflow right away')
    .option('--json', 'print the created queue as JSON')
    .action((options: { file: string; start?: boolean; json?: boolean }) =>
      run(async (context) => {
        const config = await readQueueFile(options.file);
        const created = await createQueue(context.db(), context.secretKey(), config);
        if (options.start) {
          await startQueueWorkflow(await context.temporal(), created);
        }
        if (options.json) {
          printJson(queueJson(created, await loadQueueReferenceNames(context.db())));
        } else {
          process.stdout.write(`Created queue ${created.number} "${terminalSafe(created.title)}".${options.start ? ' Its workflow is running.' : ` Start it with: mailqueue queue start ${created.number}`}\n`);
        }
      }),
    );

  queue
    .command('list')
    .description('list queues')
    .option('--all', 'include deleted queues')
    .option('--json', 'print JSON')
    .action((options: { all?: boolean; json?: boolean }) =>
      run(async (context) => {
        const queues = await listQueues(context.db(), { includeDeleted: options.all });
        if (options.json) {
          const names = await loadQueueReferenceNames(context.db());
          printJson(queues.map((q) => queueJson(q, names)));
          return;
        }
        printTable(
          ['NUMBER', 'TITLE', 'ACTIVE', 'CATEGORY', 'MAILBOX', 'DELETED'],
          queues.map((q) => [q.number, terminalSafe(q.title), q.active, q.category, `${q.incoming.user}@${q.incoming.host}:${q.incoming.port}/${q.incoming.folder}`, q.deletedAt]),
        );
      }),
    );

  queue
    .command('show <number>')
    .description("show a queue's settings")
    .option('--json', 'print JSON')
    .action((numberText: string, options: { json?: boolean }) =>
      run(async (context) => {
        const found = await findQueueByNumber(context.db(), parseQueueNumber(numberText), { includeDeleted: true });
        if (!found) throw new Error(`Queue ${numberText} does not exist: run \`mailqueue queue list --all\``);
        const q = queueJson(found, await loadQueueReferenceNames(context.db()));
        if (options.json) {
          printJson(q);
          return;
        }
        for (const [key, value] of flattenForDisplay(q)) {
          process.stdout.write(`${key.padEnd(30)} ${terminalSafe(value)}\n`);
        }
      }),
    );

  queue
    .command('update <number>')
    .description("replace a queue's settings from a JSON file (see docs/queue-config.md); its running workflow reloads them")
    .requiredOption('--file <path>', 'queue definition in JSON, with every field you want to keep, the passwords included')
    .option('--json', 'print the updated queue as JSON')
    .action((numberText: string, options: { file: string; json?: boolean }) =>
      run(async (context) => {
        const config = await readQueueFile(options.file);
        const updated = await updateQueue(context.db(), context.secretKey(), parseQueueNumber(numberText), config);
        const signalled = await signalConfigChanged(await context.temporal(), updated.number);
        if (options.json) {
          printJson(queueJson(updated, await loadQueueReferenceNames(context.db())));
        } else {
          process.stdout.write(signalled ? `Updated queue ${updated.number}; its workflow reloads the settings.\n` : `Updated queue ${updated.number}; its workflow is not running (mailqueue queue start ${updated.number}).\n`);
        }
      }),
    );

  queue
    .command('start [number]')
    .description("start a queue's workflow (does nothing if it runs already)")
    .option('--all', 'start every active queue')
    .action((numberText: string | undefined, options: { all?: boolean }) =>
      run(async (context) => {
        const client = await context.temporal();
        let targets: QueueRecord[];
        if (options.all) {
          targets = (await listQueues(context.db())).filter((q) => q.active);
        } else if (numberText !== undefined) {
          targets = [await requireQueueByNumber(context.db(), parseQueueNumber(numberText))];
        } else {
          throw new Error('Name a queue number, or pass --all to start every active queue');
        }
        for (const target of targets) {
          const outcome = await startQueueWorkflow(client, target);
          process.stdout.write(`Queue ${target.number}: ${outcome.started ? 'started' : 'already running'} (workflow ${outcome.workflowId})\n`);
        }
      }),
    );

  for (const [name, active] of [['pause', false], ['resume', true]] as const) {
    queue
      .command(`${name} <number>`)
      .description(active ? 'resume receiving mail; fetches at once' : 'stop receiving mail (outgoing mail continues)')
      .action((numberText: string) =>
        run(async (context) => {
          const target = await requireQueueByNumber(context.db(), parseQueueNumber(numberText));
          await setQueueActive(context.db(), target.id, active);
          const signalled = await signalSetActive(await context.temporal(), target.number, active);
          const state = active ? 'resumed' : 'paused';
          process.stdout.write(signalled ? `Queue ${target.number} ${state}.\n` : `Queue ${target.number} marked ${state}; its workflow is not running (mailqueue queue start ${target.number}).\n`);
        }),
      );
  }

  queue
    .command('fetch <number>')
    .description('fetch now instead of waiting for the poll interval (sends the mailArrived signal)')
    .action((numberText: string) =>
      run(async (context) => {
        const target = await requireQueueByNumber(context.db(), parseQueueNumber(numberText));
        const signalled = await signalMailArrived(await context.temporal(), target.number);
        process.stdout.write(signalled ? `Queue ${target.number} fetches now.\n` : `Queue ${target.number}'s workflow is not running: mailqueue queue start ${target.number}\n`);
      }),
    );

  queue
    .command('status <number>')
    .description("show the running workflow's status: active, last fetch, last error, counters, cursor")
    .option('--json', 'print JSON')
    .action((numberText: string, options: { json?: boolean }) =>
      run(async (context) => {
        const target = await requireQueueByNumber(context.db(), parseQueueNumber(numberText));
        const status = await queryQueueStatus(await context.temporal(), target.number);
        if (options.json) {
          printJson({ number: target.number, running: status !== null, status });
          return;
        }
        if (status === null) {
          process.stdout.write(`Queue ${target.number}'s workflow is not running: mailqueue queue start ${target.number}\n`);
          return;
        }
        process.stdout.write(`queue        ${target.number} "${terminalSafe(status.title ?? target.title)}"\n`);
        process.stdout.write(`active       ${status.active}\n`);
        process.stdout.write(`open         ${status.open === null ? 'always (no working hours)' : status.open}${status.nextOpenChangeAt ? ` (changes at ${status.nextOpenChangeAt})` : ''}\n`);
        process.stdout.write(`outbox       ${status.outbox.pending} pending, ${status.outbox.failed} failed${status.outbox.lastFailure ? ` (latest: #${status.outbox.lastFailure.outboxId}: ${terminalSafe(status.outbox.lastFailure.reason)})` : ''}\n`);
        process.stdout.write(`last fetch   ${status.lastFetchAt ?? 'never'}\n`);
        process.stdout.write(`next poll    ${status.nextPollAt ?? '-'}\n`);
        process.stdout.write(`last error   ${status.lastError ? `${status.lastError.type}: ${terminalSafe(status.lastError.message)} (at ${status.lastError.at}, ${status.lastError.consecutive} in a row)` : 'none'}\n`);
        process.stdout.write(`cursor       ${status.cursor ? `${status.cursor.folder} uidvalidity ${status.cursor.uidValidity} last uid ${status.cursor.lastUid}` : '-'}\n`);
        process.stdout.write(`counters     ${Object.entries(status.counters).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
      }),
    );

  queue
    .command('suggest-number')
    .description('print the next queue number never used, deleted queues included')
    .action(() =>
      run(async (context) => {
        process.stdout.write(`${await suggestQueueNumber(context.db())}\n`);
      }),
    );

  queue
    .command('delete <number>')
    .description('delete a queue (soft delete: its tickets stay, its number is never reused)')
    .action((numberText: string) =>
      run(async (context) => {
        const target = await requireQueueByNumber(context.db(), parseQueueNumber(numberText));
        await softDeleteQueue(context.db(), target.id);
        await signalConfigChanged(await context.temporal(), target.number);
        process.stdout.write(`Queue ${target.number} deleted; its workflow stops.\n`);
      }),
    );
}
