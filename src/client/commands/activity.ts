import type { Command } from 'commander';

import { acceptEmailActivity, closeEmailActivity, listEmailActivities, setEmailActivityStatuses, showEmailActivity } from '../../agents/operations.js';
import { parseActivityState, type ActivityRecord } from '../../db/email-activities.js';
import type { CliContext } from '../context.js';
import { printJson, printTable } from '../output.js';
import { operationsContext, parseWholeNumber } from './agent.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function printActivity(activity: ActivityRecord): void {
  const lines: Array<[string, string | number | null]> = [
    ['activity', activity.id],
    ['queue', activity.queueNumber],
    ['ticket', activity.ticketNumber],
    ['state', activity.state],
    ['agent', activity.agentAlias],
    ['statuses', activity.statuses.join(', ') || null],
    ['created', activity.createdAt],
    ['offered', activity.offeredAt],
    ['offer expires', activity.offerExpiresAt],
    ['assigned', activity.assignedAt],
    ['closed', activity.closedAt],
    ['messages', activity.messageRowIds.join(', ')],
  ];
  for (const [key, value] of lines) process.stdout.write(`${key.padEnd(14)} ${value ?? '-'}\n`);
}

export function registerActivityCommands(program: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  const activity = program.command('activity').description('list, accept and close email activities');

  activity
    .command('list')
    .description('list email activities, oldest first')
    .option('--queue <number>', 'only this queue')
    .option('--state <state>', 'only this state: waiting, offered, open or closed')
    .option('--as <alias>', 'only those offered to, open with or closed by this agent')
    .option('--json', 'print JSON')
    .action((options: { queue?: string; state?: string; as?: string; json?: boolean }) =>
      run(async (context) => {
        const rows = await listEmailActivities(await operationsContext(context), {
          queueNumber: options.queue === undefined ? undefined : parseWholeNumber('--queue', options.queue),
          state: options.state === undefined ? undefined : parseActivityState(options.state),
          alias: options.as,
        });
        if (options.json) {
          printJson(rows);
          return;
        }
        printTable(['ID', 'QUEUE', 'TICKET', 'STATE', 'AGENT', 'STATUSES', 'CREATED'], rows.map((a) => [a.id, a.queueNumber, a.ticketNumber, a.state, a.agentAlias, a.statuses.join(',') || null, a.createdAt]));
      }),
    );

  activity
    .command('accept <id>')
    .description('accept an activity offered to the agent')
    .requiredOption('--as <alias>', 'the agent')
    .option('--json', 'print JSON')
    .action((id: string, options: { as: string; json?: boolean }) =>
      run(async (context) => {
        const accepted = await acceptEmailActivity(await operationsContext(context), options.as, parseWholeNumber('activity id', id));
        if (options.json) printJson(accepted);
        else process.stdout.write(`Activity ${accepted.id} (ticket ${accepted.ticketNumber}) is open with "${options.as}".\n`);
      }),
    );

  activity
    .command('close <id>')
    .description("close an activity open with the agent; the queue's wrap-up time starts")
    .requiredOption('--as <alias>', 'the agent')
    .option('--status <name>', 'status to add; repeat when the queue allows several', collect, [])
    .option('--json', 'print JSON')
    .action((id: string, options: { as: string; status: string[]; json?: boolean }) =>
      run(async (context) => {
        const result = await closeEmailActivity(await operationsContext(context), options.as, parseWholeNumber('activity id', id), options.status);
        if (options.json) printJson(result);
        else process.stdout.write(`Activity ${result.activity.id} closed; wrap-up until ${result.wrapUpUntil}.\n`);
      }),
    );

  activity
    .command('status <id> [statuses...]')
    .description('show an activity; with status names, add them (or replace the existing ones with --replace)')
    .option('--as <alias>', 'the agent the activity is open with (needed to set statuses)')
    .option('--replace', 'replace the statuses instead of adding')
    .option('--json', 'print JSON')
    .action((id: string, statuses: string[], options: { as?: string; replace?: boolean; json?: boolean }) =>
      run(async (context) => {
        const activityId = parseWholeNumber('activity id', id);
        const operations = await operationsContext(context);
        let shown: ActivityRecord;
        if (statuses.length === 0) {
          shown = await showEmailActivity(operations, activityId);
        } else {
          if (options.as === undefined) throw new Error('Setting statuses needs the agent: add `--as <alias>`.');
          shown = await setEmailActivityStatuses(operations, options.as, activityId, statuses, options.replace ? 'replace' : 'add');
        }
        if (options.json) printJson(shown);
        else printActivity(shown);
      }),
    );
}
