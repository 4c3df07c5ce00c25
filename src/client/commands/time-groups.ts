import type { Command } from 'commander';
import { z } from 'zod';

import { createTimeGroup, findTimeGroupByName, listTimeGroups, type TimeGroupRecord } from '../../db/time-groups.js';
import type { TimeGroup } from '../../domain/working-hours.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, terminalSafe } from '../output.js';
import { readJsonFile } from './json-file.js';

/** Shape of a time group file; the definition itself is checked by validateTimeGroup on create. */
const timeGroupFileSchema = z
  .object({
    name: z.string(),
    timeZone: z.string(),
    weekly: z.array(z.unknown()),
    exceptions: z.array(z.unknown()).default([]),
  })
  .strict();

/** Builds the `--json` form of a time group: the shape of its file, plus the creation time. */
export function timeGroupJson(group: TimeGroupRecord) {
  return { name: group.name, ...group.definition, createdAt: group.createdAt };
}

function describeWeekly(definition: TimeGroup): string {
  const dayNames = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  return definition.weekly.map((interval) => `${dayNames[interval.day]} ${interval.open}-${interval.close}`).join(', ');
}

export function registerTimeGroupCommands(program: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  const groups = program.command('time-groups').description('create and inspect working hours (see docs/templates.md)');

  groups
    .command('create')
    .description('create a time group from a JSON file; it is validated before it is saved')
    .requiredOption('--file <path>', 'time group in JSON: { "name", "timeZone", "weekly": [...], "exceptions": [...] }')
    .action((options: { file: string }) =>
      run(async (context) => {
        const file = await readJsonFile(options.file, 'Time group', timeGroupFileSchema);
        // The entries are checked one by one by createTimeGroup, with a message per bad field.
        const created = await createTimeGroup(context.db(), file as unknown as TimeGroup & { name: string });
        process.stdout.write(`Created time group "${terminalSafe(created.name)}" (${created.definition.timeZone}).\n`);
      }),
    );

  groups
    .command('list')
    .description('list time groups')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      run(async (context) => {
        const rows = await listTimeGroups(context.db());
        if (options.json) {
          printJson(rows.map(timeGroupJson));
          return;
        }
        printTable(
          ['NAME', 'TIME ZONE', 'WEEKLY', 'EXCEPTIONS'],
          rows.map((g) => [terminalSafe(g.name), g.definition.timeZone, describeWeekly(g.definition), g.definition.exceptions.length]),
        );
      }),
    );

  groups
    .command('show <name>')
    .description('show a time group')
    .option('--json', 'print JSON')
    .action((name: string, options: { json?: boolean }) =>
      run(async (context) => {
        const group = await findTimeGroupByName(context.db(), name);
        if (!group) throw new Error(`Time group "${name}" does not exist: run \`mailqueue time-groups list\` for the names`);
        if (options.json) {
          printJson(timeGroupJson(group));
          return;
        }
        process.stdout.write(`name        ${terminalSafe(group.name)}\ntime zone   ${group.definition.timeZone}\nweekly      ${describeWeekly(group.definition)}\n`);
        for (const exception of group.definition.exceptions) {
          const hours = exception.open ? (exception.intervals ?? []).map((i) => `${i.open}-${i.close}`).join(', ') : 'closed';
          process.stdout.write(`exception   ${exception.date} ${hours}${exception.note ? ` (${terminalSafe(exception.note)})` : ''}\n`);
        }
      }),
    );
}
