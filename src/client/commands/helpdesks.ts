import type { Command } from 'commander';

import { assignQueueToHelpdesk, createHelpdesk, deleteHelpdesk, findHelpdeskByName, listHelpdesks, type HelpdeskRecord } from '../../db/helpdesks.js';
import { requireQueueByNumber } from '../../db/queues.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, terminalSafe } from '../output.js';

/** Builds the `--json` form of a helpdesk. */
export function helpdeskJson(helpdesk: HelpdeskRecord) {
  return { id: helpdesk.id, name: helpdesk.name, description: helpdesk.description, queues: helpdesk.queueNumbers, createdAt: helpdesk.createdAt };
}

function parseQueueNumber(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new Error(`Invalid queue number "${value}": use a positive whole number, as shown by \`mailqueue queue list\``);
  return number;
}

async function requireHelpdesk(context: CliContext, name: string): Promise<HelpdeskRecord> {
  const helpdesk = await findHelpdeskByName(context.db(), name);
  if (helpdesk === null) throw new Error(`Helpdesk "${name}" does not exist: run \`mailqueue helpdesks list\``);
  return helpdesk;
}

export function registerHelpdeskCommands(program: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  const helpdesks = program.command('helpdesks').description('helpdesks: named groups of queues');

  helpdesks
    .command('create <name>')
    .description('create a helpdesk')
    .option('--description <text>', 'what the helpdesk is for', '')
    .option('--json', 'print the created helpdesk as JSON')
    .action((name: string, options: { description: string; json?: boolean }) =>
      run(async (context) => {
        const created = await createHelpdesk(context.db(), { name, description: options.description });
        if (options.json) printJson(helpdeskJson(created));
        else process.stdout.write(`Created helpdesk "${terminalSafe(created.name)}". Add queues with: mailqueue helpdesks assign "${terminalSafe(created.name)}" <queue-number>\n`);
      }),
    );

  helpdesks
    .command('list')
    .description('list helpdesks with their queues')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      run(async (context) => {
        const rows = await listHelpdesks(context.db());
        if (options.json) {
          printJson(rows.map(helpdeskJson));
          return;
        }
        printTable(['NAME', 'QUEUES', 'DESCRIPTION'], rows.map((h) => [terminalSafe(h.name), h.queueNumbers.join(', '), terminalSafe(h.description)]));
      }),
    );

  helpdesks
    .command('assign <name> <queue-number>')
    .description('put a queue into a helpdesk (moving it out of any other)')
    .action((name: string, queueText: string) =>
      run(async (context) => {
        const helpdesk = await requireHelpdesk(context, name);
        const queue = await requireQueueByNumber(context.db(), parseQueueNumber(queueText));
        await assignQueueToHelpdesk(context.db(), queue.id, helpdesk.id);
        process.stdout.write(`Queue ${queue.number} is now in helpdesk "${terminalSafe(helpdesk.name)}".\n`);
      }),
    );

  helpdesks
    .command('unassign <queue-number>')
    .description('take a queue out of its helpdesk')
    .action((queueText: string) =>
      run(async (context) => {
        const queue = await requireQueueByNumber(context.db(), parseQueueNumber(queueText));
        await assignQueueToHelpdesk(context.db(), queue.id, null);
        process.stdout.write(`Queue ${queue.number} is in no helpdesk now.\n`);
      }),
    );

  helpdesks
    .command('delete <name>')
    .description('delete a helpdesk; its queues stay and belong to no helpdesk')
    .action((name: string) =>
      run(async (context) => {
        const helpdesk = await requireHelpdesk(context, name);
        await deleteHelpdesk(context.db(), helpdesk.id);
        process.stdout.write(`Deleted helpdesk "${terminalSafe(helpdesk.name)}".\n`);
      }),
    );
}
