import type { Command } from 'commander';

import { agentStatus, loginAgent, logoutAgent, pauseAgent, setAgentReady, type AgentOperationsContext } from '../../agents/operations.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, terminalSafe } from '../output.js';

/** Parses a whole number option such as a queue number or a capacity; the error names the option. */
export function parseWholeNumber(option: string, value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    throw new Error(`Invalid ${option} "${value}": use a positive whole number`);
  }
  return number;
}

function collectQueue(value: string, previous: number[]): number[] {
  return [...previous, parseWholeNumber('--queue', value)];
}

/** Builds the operations context of a CLI command: its database and Temporal client. */
export async function operationsContext(context: CliContext): Promise<AgentOperationsContext> {
  return { db: context.db(), temporal: await context.temporal() };
}

export function registerAgentCommands(program: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  const agent = program.command('agent').description('log agents in and out of queues, mark them ready or paused, show their state');

  agent
    .command('login')
    .description('log an agent in to queues it may use (starts its agent workflow)')
    .requiredOption('--as <alias>', 'the agent')
    .requiredOption('--queue <number>', 'queue number; repeat for several', collectQueue, [])
    .option('--capacity <n>', 'email activities the agent holds at once (default 1)')
    .option('--json', 'print JSON')
    .action((options: { as: string; queue: number[]; capacity?: string; json?: boolean }) =>
      run(async (context) => {
        const capacity = options.capacity === undefined ? undefined : parseWholeNumber('--capacity', options.capacity);
        const result = await loginAgent(await operationsContext(context), options.as, { queueNumbers: options.queue, capacity });
        if (options.json) printJson(result);
        else process.stdout.write(`Agent "${options.as}" logged in to queue ${result.queues.map((queue) => queue.queueNumber).join(', ')}. Run \`mailqueue agent ready --as ${options.as}\` to get offers.\n`);
      }),
    );

  agent
    .command('logout')
    .description('log an agent out of some queues, or of all of them when no --queue is given')
    .requiredOption('--as <alias>', 'the agent')
    .option('--queue <number>', 'queue number; repeat for several', collectQueue, [])
    .action((options: { as: string; queue: number[] }) =>
      run(async (context) => {
        await logoutAgent(await operationsContext(context), options.as, options.queue);
        process.stdout.write(options.queue.length === 0 ? `Agent "${options.as}" logged out of every queue.\n` : `Agent "${options.as}" logged out of queue ${options.queue.join(', ')}.\n`);
      }),
    );

  agent
    .command('ready')
    .description('make an agent ready for offers')
    .requiredOption('--as <alias>', 'the agent')
    .action((options: { as: string }) =>
      run(async (context) => {
        await setAgentReady(await operationsContext(context), options.as);
        process.stdout.write(`Agent "${options.as}" is ready.\n`);
      }),
    );

  agent
    .command('pause')
    .description('pause an agent: no new offers; offers not yet accepted go back to the queue')
    .requiredOption('--as <alias>', 'the agent')
    .requiredOption('--reason <text>', 'why, e.g. "lunch"')
    .action((options: { as: string; reason: string }) =>
      run(async (context) => {
        await pauseAgent(await operationsContext(context), options.as, options.reason);
        process.stdout.write(`Agent "${options.as}" is paused.\n`);
      }),
    );

  agent
    .command('status')
    .description("show an agent's live state, as its workflow holds it, and its offered and open activities")
    .requiredOption('--as <alias>', 'the agent')
    .option('--json', 'print JSON')
    .action((options: { as: string; json?: boolean }) =>
      run(async (context) => {
        const view = await agentStatus(await operationsContext(context), options.as);
        if (options.json) {
          printJson(view);
          return;
        }
        const live = view.live;
        if (live === null) {
          process.stdout.write(`Agent "${view.alias}" has no agent workflow: log in with \`mailqueue agent login --as ${view.alias} --queue <number>\`.\n`);
          return;
        }
        const lines: Array<[string, string]> = [
          ['agent', view.alias],
          ['queues', live.queues.map((queue) => queue.queueNumber).join(', ') || '-'],
          ['state', live.ready ? 'ready' : `paused (${terminalSafe(live.pauseReason ?? '')})`],
          ['capacity', String(live.capacity)],
          ['wrap-up', live.inWrapUp ? `until ${live.wrapUpUntil}` : 'no'],
          ['idle since', live.idleSince ?? '-'],
          ['finished', String(live.finishedCount)],
        ];
        for (const [key, value] of lines) process.stdout.write(`${key.padEnd(12)} ${value}\n`);
        if (view.activities.length > 0) {
          process.stdout.write('\n');
          printTable(['ACTIVITY', 'QUEUE', 'TICKET', 'STATE', 'OFFER EXPIRES'], view.activities.map((a) => [a.id, a.queueNumber, a.ticketNumber, a.state, a.state === 'offered' ? a.offerExpiresAt : null]));
        }
      }),
    );
}
