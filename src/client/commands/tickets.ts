import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { detectMimeType } from 'nodemailer/lib/mime-funcs/mime-types';
import { logger } from '../../logger.js';
import { sendAgentReply } from '../agent-reply.js';
import { requireQueueByNumber } from '../../db/queues.js';
import { listUnthreadedMessages, loadTicketView } from '../../db/ticket-views.js';
import { listVisibleTickets, type VisibleTicket } from '../../db/ticket-access.js';
import { listTickets, type TicketRecord } from '../../db/tickets.js';
import { requireUserByAlias } from '../../db/users.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, terminalSafe } from '../output.js';

function ticketJson(ticket: TicketRecord, queueNumbers: Map<number, number>) {
  return {
    number: ticket.number,
    queue: queueNumbers.get(ticket.queueId) ?? null,
    title: ticket.title,
    category: ticket.category,
    status: ticket.status,
    requester: ticket.requesterAddress,
    requesterName: ticket.requesterName,
    requesterFlag: ticket.requesterFlag,
    createdAt: ticket.createdAt,
    updatedAt: ticket.updatedAt,
    lastActivityAt: ticket.lastActivityAt,
  };
}

/** Builds the `--json` form of a ticket listed to a user. */
export function visibleTicketJson(ticket: VisibleTicket) {
  return {
    number: ticket.number,
    queue: ticket.queueNumber,
    title: ticket.title,
    category: ticket.category,
    status: ticket.status,
    extraStatuses: ticket.extraStatuses,
    priority: ticket.priority,
    stage: ticket.stage,
    owner: ticket.ownerAlias,
    customFields: ticket.customFields,
    requester: ticket.requesterAddress,
    requesterName: ticket.requesterName,
    createdAt: ticket.createdAt,
    updatedAt: ticket.updatedAt,
    lastActivityAt: ticket.lastActivityAt,
  };
}

/** Prints one page of a user's tickets: JSON with the paging numbers, or a table with a footer line. */
export function printTicketPage(result: { tickets: VisibleTicket[]; total: number }, page: number, pageSize: number, json: boolean): void {
  if (json) {
    printJson({ page, pageSize, total: result.total, tickets: result.tickets.map(visibleTicketJson) });
    return;
  }

  printTable(
    ['NUMBER', 'QUEUE', 'STATUS', 'PRIORITY', 'CATEGORY', 'OWNER', 'LAST ACTIVITY', 'TITLE'],
    result.tickets.map((t) => [t.number, t.queueNumber, t.status, t.priority, t.category === null ? null : terminalSafe(t.category), t.ownerAlias, t.lastActivityAt, terminalSafe(t.title)]),
  );
  const pages = Math.max(1, Math.ceil(result.total / pageSize));
  process.stdout.write(`Page ${page} of ${pages}, ${result.total} ticket${result.total === 1 ? '' : 's'} in all.\n`);
}

export function parsePositive(value: string, what: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new Error(`Invalid ${what} "${value}": use a positive whole number`);
  return number;
}

export function registerTicketCommands(program: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  const tickets = program.command('tickets').description('read tickets');

  tickets
    .command('list')
    .description('list tickets, newest first; with --as, the "All tickets" list of that user (only their categories)')
    .option('--queue <number>', 'only tickets of this queue')
    .option('--limit <count>', 'maximum tickets to list (with --as: tickets per page)', '50')
    .option('--as <alias>', "list what this user may see: tickets of the user's categories, latest activity first")
    .option('--page <number>', 'with --as: page to show', '1')
    .option('--json', 'print JSON')
    .action((options: { queue?: string; limit: string; as?: string; page: string; json?: boolean }) =>
      run(async (context) => {
        const db = context.db();
        if (options.as !== undefined) {
          const user = await requireUserByAlias(db, options.as);
          const page = parsePositive(options.page, 'page');
          const pageSize = parsePositive(options.limit, 'limit');
          const filters = options.queue === undefined ? undefined : { queues: [parsePositive(options.queue, 'queue number')] };
          printTicketPage(await listVisibleTickets(db, user, { filters, page, pageSize }), page, pageSize, options.json === true);
          return;
        }

        const queueId = options.queue === undefined ? undefined : (await requireQueueByNumber(db, parsePositive(options.queue, 'queue number'))).id;
        const rows = await listTickets(db, { queueId, limit: parsePositive(options.limit, 'limit') });
        const queues: Array<{ id: number; number: number }> = await db('queues').select('id', 'number');
        const queueNumbers = new Map(queues.map((q) => [q.id, q.number]));
        const json = rows.map((ticket) => ticketJson(ticket, queueNumbers));
        if (options.json) {
          printJson(json);
          return;
        }
        printTable(
          ['NUMBER', 'QUEUE', 'STATUS', 'CATEGORY', 'REQUESTER', 'TITLE'],
          json.map((t) => [t.number, t.queue, t.status, t.category, t.requester, terminalSafe(t.title)]),
        );
      }),
    );

  tickets
    .command('show <number>')
    .description('show a ticket with its participants, messages and events')
    .option('--json', 'print JSON')
    .action((numberText: string, options: { json?: boolean }) =>
      run(async (context) => {
        const view = await loadTicketView(context.db(), parsePositive(numberText, 'ticket number'));
        if (view === null) throw new Error(`Ticket ${numberText} does not exist: run \`mailqueue tickets list\``);
        if (options.json) {
          printJson(view);
          return;
        }
        const t = view.ticket;
        process.stdout.write(`Ticket ${t.number} (queue ${t.queueNumber}, ${t.status}${t.category ? `, ${terminalSafe(t.category)}` : ''}): ${terminalSafe(t.title)}\n`);
        process.stdout.write(`Requester: ${t.requesterAddress ?? '(none)'}${t.requesterFlag ? ` [${t.requesterFlag}]` : ''}\n`);
        process.stdout.write(`Participants: ${view.participants.map((p) => `${p.address} (${p.role})`).join(', ')}\n`);
        process.stdout.write(`Priority: ${t.priority}  Stage: ${terminalSafe(t.stage ?? '-')}  Owner: ${t.owner?.alias ?? '-'}  Extra statuses: ${terminalSafe(t.extraStatuses.join(', ') || '-')}\n`);
        if (Object.keys(t.customFields).length > 0) process.stdout.write(`Custom fields: ${terminalSafe(JSON.stringify(t.customFields))}\n`);
        for (const entry of view.routing) {
          const rules = entry.rules.map((rule) => `#${rule.id} ${rule.name}`).join(', ');
          process.stdout.write(`Routing (message #${entry.messageRowId ?? '-'}): ${terminalSafe(rules)} set ${terminalSafe(JSON.stringify(entry.changes))}${entry.skipped.length > 0 ? `, skipped: ${terminalSafe(entry.skipped.join('; '))}` : ''}\n`);
        }
        for (const message of view.messages) {
          const from = message.from.map((a) => a.address ?? a.name).join(', ');
          process.stdout.write(`\n--- #${message.id} ${message.direction} ${message.date ?? ''} from ${terminalSafe(from)} [${message.threadRule ?? ''}]${message.autoSubmitted ? ' [automatic]' : ''}${message.parseError ? ` [parse error: ${terminalSafe(message.parseError)}]` : ''}\n`);
          process.stdout.write(`Subject: ${terminalSafe(message.subject)}\n`);
          for (const attachment of message.attachments) {
            process.stdout.write(`Attachment: ${terminalSafe(attachment.filename)} (${attachment.contentType}, ${attachment.size} bytes${attachment.inline ? ', inline' : ''})\n`);
          }
          process.stdout.write(`\n${message.text.trim()}\n`);
        }
        for (const mail of view.outbox) {
          process.stdout.write(`\nOutgoing #${mail.id} ${mail.kind} to ${mail.recipients.join(', ')}: ${mail.state}${mail.failureReason ? ` (${terminalSafe(mail.failureReason)})` : ''}${mail.state === 'pending' && mail.lastError ? ` (last attempt: ${terminalSafe(mail.lastError)})` : ''}\n`);
        }
        for (const event of view.events) {
          process.stdout.write(`\nEvent ${event.kind} at ${event.createdAt}: ${JSON.stringify(event.data)}\n`);
        }
      }),
    );

  tickets
    .command('reply <number>')
    .description("reply to a ticket's customer through its queue (sender info, signature, survey block, threading headers)")
    .requiredOption('--as <alias>', 'the agent writing, by user alias (mailqueue users list)')
    .requiredOption('--body-file <path>', 'plain text body')
    .option('--html-file <path>', 'HTML body, sent beside the text')
    .option('--attach <path>', 'attach a file (repeat for several)', (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option('--json', 'print JSON')
    .action((numberText: string, options: { as: string; bodyFile: string; htmlFile?: string; attach: string[]; json?: boolean }) =>
      run(async (context) => {
        const text = await readFile(options.bodyFile, 'utf8');
        const html = options.htmlFile === undefined ? null : await readFile(options.htmlFile, 'utf8');
        const attachments = await Promise.all(
          options.attach.map(async (path) => ({ filename: basename(path), contentType: detectMimeType(path), content: await readFile(path) })),
        );
        const reply = await sendAgentReply(context.db(), await context.temporal(), { ticketNumber: parsePositive(numberText, 'ticket number'), userAlias: options.as, text, html, attachments }, logger);
        if (options.json) {
          printJson({ outboxId: reply.outboxId, messageId: reply.messageId, recipient: reply.recipient, workflowId: reply.workflowId });
          return;
        }
        process.stdout.write(`Reply queued as outgoing #${reply.outboxId} to ${reply.recipient} (Message-ID <${reply.messageId}>, delivery workflow ${reply.workflowId}).\n`);
      }),
    );

  tickets
    .command('held')
    .description("list a queue's messages that joined no ticket: quarantined, duplicates, our own mail")
    .requiredOption('--queue <number>', 'queue number')
    .option('--json', 'print JSON')
    .action((options: { queue: string; json?: boolean }) =>
      run(async (context) => {
        const queue = await requireQueueByNumber(context.db(), parsePositive(options.queue, 'queue number'));
        const rows = await listUnthreadedMessages(context.db(), queue.id);
        if (options.json) {
          printJson(rows);
          return;
        }
        printTable(['ID', 'STATE', 'REASON', 'MESSAGE-ID', 'SUBJECT'], rows.map((r) => [r.id, r.state, r.reason, r.messageId, terminalSafe(r.subject)]));
      }),
    );
}
