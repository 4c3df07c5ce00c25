import type { Command } from 'commander';

import { createUser, listUsers, type UserRecord } from '../../db/users.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, terminalSafe } from '../output.js';

/** Builds the `--json` form of a user. */
export function userJson(user: UserRecord) {
  return { alias: user.alias, name: user.name, email: user.email, createdAt: user.createdAt };
}

export function registerUserCommands(program: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  const users = program.command('users').description('create and list agents, the people who write replies');

  users
    .command('create')
    .description('create a user')
    .requiredOption('--alias <alias>', 'unique short name: letters a-z, digits, ".", "_" or "-" (stored in lower case)')
    .requiredOption('--email <address>', 'mail address of the user')
    .option('--name <name>', 'full name shown in sender-info and signatures', '')
    .option('--json', 'print the created user as JSON')
    .action((options: { alias: string; email: string; name: string; json?: boolean }) =>
      run(async (context) => {
        const created = await createUser(context.db(), { alias: options.alias, email: options.email, name: options.name });
        if (options.json) printJson(userJson(created));
        else process.stdout.write(`Created user "${created.alias}".\n`);
      }),
    );

  users
    .command('list')
    .description('list users')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      run(async (context) => {
        const rows = await listUsers(context.db());
        if (options.json) {
          printJson(rows.map(userJson));
          return;
        }
        printTable(['ALIAS', 'NAME', 'EMAIL'], rows.map((u) => [u.alias, terminalSafe(u.name), terminalSafe(u.email)]));
      }),
    );
}
