import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { importMessages } from '../../activities/import.js';
import { requireQueueByNumber } from '../../db/queues.js';
import { logger } from '../../logger.js';
import type { CliContext } from '../context.js';
import { printJson } from '../output.js';

export function registerImportCommand(program: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  program
    .command('import <files...>')
    .description('store .eml files in a queue without sending any mail; --outgoing records them as sent by the queue on a ticket')
    .requiredOption('--queue <number>', 'queue number')
    .option('--outgoing', 'the files are mail the queue sent (a Sent folder)')
    .option('--ticket <number>', 'ticket the outgoing mail belongs to (with --outgoing)')
    .option('--json', 'print JSON')
    .action((files: string[], options: { queue: string; outgoing?: boolean; ticket?: string; json?: boolean }) =>
      run(async (context) => {
        if (options.outgoing && options.ticket === undefined) throw new Error('--outgoing needs --ticket <number>: the ticket the sent mail belongs to');
        if (!options.outgoing && options.ticket !== undefined) throw new Error('--ticket is only used with --outgoing');
        const queue = await requireQueueByNumber(context.db(), Number(options.queue));
        const raws = await Promise.all(files.map((file) => readFile(file)));
        const result = await importMessages(context.db(), queue, raws, { outgoingTicketNumber: options.ticket === undefined ? undefined : Number(options.ticket) }, logger);
        const summary = {
          files: files.map((file, index) => ({ file, status: result.outcomes[index].status, messageRowId: result.outcomes[index].messageRowId, parseFailed: result.outcomes[index].parseFailed })),
          threaded: result.threaded,
        };
        if (options.json) {
          printJson(summary);
          return;
        }
        for (const entry of summary.files) process.stdout.write(`${entry.file}: ${entry.status}${entry.parseFailed ? ' (with a parse error)' : ''}\n`);
        if (result.threaded) process.stdout.write(`New tickets: ${result.threaded.newTickets}, replies: ${result.threaded.replies}, not threaded: ${result.threaded.ownMessages + result.threaded.crossQueueDuplicates + result.threaded.held}\n`);
      }),
    );
}
