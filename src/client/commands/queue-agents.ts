import type { Command } from 'commander';

import { allowQueueAgent, disallowQueueAgent, listQueueAgentIds } from '../../db/queue-agents.js';
import { requireQueueByNumber } from '../../db/queues.js';
import { listUsers, requireUserByAlias } from '../../db/users.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, terminalSafe } from '../output.js';
import { userJson } from './users.js';

function parseQueueNumber(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new Error(`Invalid queue number "${value}": use a positive whole number, as shown by \`mailqueue queue list\``);
  return number;
}

/** Adds `queue agents add|remove|list` to the `queue` command group. */
export function registerQueueAgentCommands(queue: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  const agents = queue.command('agents').description('which agents may use a queue');

  agents
    .command('add <queue-number> <alias>')
    .description('let an agent use a queue (adding twice changes nothing)')
    .action((queueText: string, alias: string) =>
      run(async (context) => {
        const target = await requireQueueByNumber(context.db(), parseQueueNumber(queueText));
        const user = await requireUserByAlias(context.db(), alias);
        await allowQueueAgent(context.db(), target.id, user.id);
        process.stdout.write(`User "${user.alias}" may use queue ${target.number}.\n`);
      }),
    );

  agents
    .command('remove <queue-number> <alias>')
    .description('stop an agent from using a queue')
    .action((queueText: string, alias: string) =>
      run(async (context) => {
        const target = await requireQueueByNumber(context.db(), parseQueueNumber(queueText));
        const user = await requireUserByAlias(context.db(), alias);
        const removed = await disallowQueueAgent(context.db(), target.id, user.id);
        process.stdout.write(removed ? `User "${user.alias}" may no longer use queue ${target.number}.\n` : `User "${user.alias}" was not an agent of queue ${target.number}; nothing changed.\n`);
      }),
    );

  agents
    .command('list <queue-number>')
    .description('list the agents who may use a queue')
    .option('--json', 'print JSON')
    .action((queueText: string, options: { json?: boolean }) =>
      run(async (context) => {
        const target = await requireQueueByNumber(context.db(), parseQueueNumber(queueText));
        const ids = new Set(await listQueueAgentIds(context.db(), target.id));
        const rows = (await listUsers(context.db())).filter((user) => ids.has(user.id));
        if (options.json) {
          printJson(rows.map(userJson));
          return;
        }
        printTable(['ALIAS', 'ROLE', 'ACTIVE', 'NAME', 'EMAIL'], rows.map((u) => [u.alias, u.role, u.active ? 'yes' : 'no', terminalSafe(u.name), terminalSafe(u.email)]));
      }),
    );
}
