import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';

import { listVisibleTickets } from '../../db/ticket-access.js';
import { requireUserByAlias, userRoles, type UserRole } from '../../db/users.js';
import { createView, deleteView, findViewById, findViewForUser, listViewsForUser, shareView, unshareView, updateView, type ViewRecord, type ViewShareTarget } from '../../db/views.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, terminalSafe } from '../output.js';
import { parsePositive, printTicketPage } from './tickets.js';

/** Builds the `--json` form of a view. */
export function viewJson(view: ViewRecord) {
  return {
    id: view.id,
    name: view.name,
    owner: view.ownerAlias,
    filters: view.definition.filters,
    order: view.definition.order,
    sharedWith: view.shares.map((share) => (share.role !== null ? { role: share.role } : { user: share.alias })),
    createdAt: view.createdAt,
    updatedAt: view.updatedAt,
  };
}

/** Reads a view file: `{ "name": …, "filters": {…}, "order": […] }`. Filters and order are validated by createView. */
async function readViewFile(path: string): Promise<{ name: string; definition: Record<string, unknown> }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`Cannot read view file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }

  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new Error(`View file ${path} is not valid JSON: ${(error as Error).message}`);
  }

  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new Error(`View file ${path} is invalid: it must be a JSON object such as {"name": "Leads", "filters": {"statuses": ["new"]}}. See docs/rights-and-views.md`);
  }
  const { name, ...definition } = document as Record<string, unknown>;
  if (typeof name !== 'string') {
    throw new Error(`View file ${path} is invalid:\n  name: is required, a text such as "Leads"`);
  }
  return { name, definition };
}

function parseViewId(value: string): number {
  const id = Number(value);
  if (!Number.isInteger(id) || id < 1) throw new Error(`Invalid view id "${value}": use the ID column of \`mailqueue views list --as <alias>\``);
  return id;
}

async function requireView(context: CliContext, idText: string): Promise<ViewRecord> {
  const view = await findViewById(context.db(), parseViewId(idText));
  if (view === null) throw new Error(`View ${idText} does not exist: run \`mailqueue views list --as <alias>\``);
  return view;
}

/** Turns `--user alias` or `--role name` into a share target; exactly one must be given. */
async function shareTarget(context: CliContext, options: { user?: string; role?: string }): Promise<{ target: ViewShareTarget; label: string }> {
  if ((options.user === undefined) === (options.role === undefined)) throw new Error('Give exactly one of --user <alias> or --role <admin|agent>');

  if (options.role !== undefined) {
    if (!(userRoles as readonly string[]).includes(options.role)) throw new Error(`Invalid role "${options.role}": use ${userRoles.join(' or ')}`);
    return { target: { role: options.role as UserRole }, label: `role ${options.role}` };
  }

  const user = await requireUserByAlias(context.db(), options.user as string);
  return { target: { userId: user.id }, label: `user "${user.alias}"` };
}

export function registerViewCommands(program: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  const views = program.command('views').description('saved ticket filters, shared with users or roles (see docs/rights-and-views.md)');

  views
    .command('create')
    .description('create a view from a JSON file: {"name": …, "filters": {…}, "order": […]}')
    .requiredOption('--file <path>', 'view definition in JSON')
    .option('--owner <alias>', 'user who owns the view (always may open it); without it, only users and roles it is shared with may')
    .option('--json', 'print the created view as JSON')
    .action((options: { file: string; owner?: string; json?: boolean }) =>
      run(async (context) => {
        const file = await readViewFile(options.file);
        const owner = options.owner === undefined ? null : await requireUserByAlias(context.db(), options.owner);
        const created = await createView(context.db(), { name: file.name, ownerUserId: owner?.id ?? null, definition: file.definition });
        if (options.json) printJson(viewJson(created));
        else process.stdout.write(`Created view ${created.id} "${terminalSafe(created.name)}". Share it with: mailqueue views share ${created.id} --role agent\n`);
      }),
    );

  views
    .command('update <id>')
    .description("replace a view's name, filters and order from a JSON file")
    .requiredOption('--file <path>', 'view definition in JSON')
    .option('--json', 'print the updated view as JSON')
    .action((idText: string, options: { file: string; json?: boolean }) =>
      run(async (context) => {
        const view = await requireView(context, idText);
        const file = await readViewFile(options.file);
        const updated = await updateView(context.db(), view.id, { name: file.name, definition: file.definition });
        if (options.json) printJson(viewJson(updated));
        else process.stdout.write(`Updated view ${updated.id} "${terminalSafe(updated.name)}".\n`);
      }),
    );

  views
    .command('list')
    .description('list the views a user may open')
    .requiredOption('--as <alias>', 'the user')
    .option('--json', 'print JSON')
    .action((options: { as: string; json?: boolean }) =>
      run(async (context) => {
        const user = await requireUserByAlias(context.db(), options.as);
        const rows = await listViewsForUser(context.db(), user);
        if (options.json) {
          printJson(rows.map(viewJson));
          return;
        }
        printTable(
          ['ID', 'NAME', 'OWNER', 'SHARED WITH'],
          rows.map((v) => [v.id, terminalSafe(v.name), v.ownerAlias, viewJson(v).sharedWith.map((share) => ('role' in share ? `role ${share.role}` : share.user)).join(', ')]),
        );
      }),
    );

  for (const [name, sharing] of [['share', true], ['unshare', false]] as const) {
    views
      .command(`${name} <id>`)
      .description(sharing ? 'let a user, or every user with a role, open a view' : 'take a share away')
      .option('--user <alias>', sharing ? 'share with this user' : 'the user to take the share from')
      .option('--role <role>', sharing ? 'share with every admin or every agent' : 'the role to take the share from')
      .action((idText: string, options: { user?: string; role?: string }) =>
        run(async (context) => {
          const view = await requireView(context, idText);
          const { target, label } = await shareTarget(context, options);
          if (sharing) {
            await shareView(context.db(), view.id, target);
            process.stdout.write(`View ${view.id} is shared with ${label}.\n`);
            return;
          }
          const removed = await unshareView(context.db(), view.id, target);
          process.stdout.write(removed ? `View ${view.id} is no longer shared with ${label}.\n` : `View ${view.id} was not shared with ${label}; nothing changed.\n`);
        }),
      );
  }

  views
    .command('tickets <id>')
    .description("list a view's tickets as a user sees them: only tickets of the user's categories")
    .requiredOption('--as <alias>', 'the user')
    .option('--page <number>', 'page to show', '1')
    .option('--limit <count>', 'tickets per page', '50')
    .option('--json', 'print JSON')
    .action((idText: string, options: { as: string; page: string; limit: string; json?: boolean }) =>
      run(async (context) => {
        const user = await requireUserByAlias(context.db(), options.as);
        const viewId = parseViewId(idText);
        if ((await findViewForUser(context.db(), user, viewId)) === null) {
          throw new Error(`View ${viewId} does not exist or is not shared with "${user.alias}": run \`mailqueue views list --as ${user.alias}\``);
        }
        const page = parsePositive(options.page, 'page');
        const pageSize = parsePositive(options.limit, 'limit');
        printTicketPage(await listVisibleTickets(context.db(), user, { viewId, page, pageSize }), page, pageSize, options.json === true);
      }),
    );

  views
    .command('delete <id>')
    .description('delete a view and its shares')
    .action((idText: string) =>
      run(async (context) => {
        const view = await requireView(context, idText);
        await deleteView(context.db(), view.id);
        process.stdout.write(`Deleted view ${view.id} "${terminalSafe(view.name)}".\n`);
      }),
    );
}
