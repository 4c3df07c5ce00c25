import type { Command } from 'commander';

import { createApiToken, findApiToken, listApiTokens, revokeApiToken, type ApiTokenRecord } from '../../db/api-tokens.js';
import {
  createUser,
  grantCategory,
  listUserCategories,
  listUsers,
  requireUserByAlias,
  revokeCategory,
  updateUser,
  userRoles,
  type UserChanges,
  type UserRecord,
  type UserRole,
} from '../../db/users.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, terminalSafe } from '../output.js';

/** Builds the `--json` form of a user. */
export function userJson(user: UserRecord) {
  return { alias: user.alias, name: user.name, email: user.email, role: user.role, active: user.active, createdAt: user.createdAt };
}

/** Builds the `--json` form of an API token: never the token nor its hash. */
export function apiTokenJson(token: ApiTokenRecord) {
  return { id: token.id, name: token.name, prefix: token.prefix, createdAt: token.createdAt, lastUsedAt: token.lastUsedAt, revokedAt: token.revokedAt };
}

function parseRole(value: string): UserRole {
  if (!(userRoles as readonly string[]).includes(value)) throw new Error(`Invalid role "${value}": use ${userRoles.join(' or ')}`);
  return value as UserRole;
}

function parseTokenId(value: string): number {
  const id = Number(value);
  if (!Number.isInteger(id) || id < 1) throw new Error(`Invalid token id "${value}": use the ID column of \`mailqueue users tokens list <alias>\``);
  return id;
}

export function registerUserCommands(program: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  const users = program.command('users').description('manage users, their roles, category rights and API tokens');

  users
    .command('create')
    .description('create a user')
    .requiredOption('--alias <alias>', 'unique short name: letters a-z, digits, ".", "_" or "-" (stored in lower case)')
    .requiredOption('--email <address>', 'mail address of the user')
    .option('--name <name>', 'full name shown in sender-info and signatures', '')
    .option('--role <role>', 'admin (manages configuration) or agent (works tickets)', 'agent')
    .option('--json', 'print the created user as JSON')
    .action((options: { alias: string; email: string; name: string; role: string; json?: boolean }) =>
      run(async (context) => {
        const created = await createUser(context.db(), { alias: options.alias, email: options.email, name: options.name, role: parseRole(options.role) });
        if (options.json) printJson(userJson(created));
        else process.stdout.write(`Created ${created.role} "${created.alias}". Grant categories with: mailqueue users grant ${created.alias} <category>\n`);
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
        printTable(['ALIAS', 'ROLE', 'ACTIVE', 'NAME', 'EMAIL'], rows.map((u) => [u.alias, u.role, u.active ? 'yes' : 'no', terminalSafe(u.name), terminalSafe(u.email)]));
      }),
    );

  users
    .command('update <alias>')
    .description("change a user's email, name, role or active state (the alias stays)")
    .option('--email <address>', 'new mail address')
    .option('--name <name>', 'new full name')
    .option('--role <role>', 'admin or agent')
    .option('--deactivate', 'stop the user: their API tokens stop working and they see no tickets')
    .option('--activate', 'let a deactivated user work again')
    .option('--json', 'print the updated user as JSON')
    .action((alias: string, options: { email?: string; name?: string; role?: string; deactivate?: boolean; activate?: boolean; json?: boolean }) =>
      run(async (context) => {
        if (options.activate && options.deactivate) throw new Error('Give --activate or --deactivate, not both');

        const changes: UserChanges = { email: options.email, name: options.name };
        if (options.role !== undefined) changes.role = parseRole(options.role);
        if (options.activate) changes.active = true;
        if (options.deactivate) changes.active = false;

        const user = await requireUserByAlias(context.db(), alias);
        const updated = await updateUser(context.db(), user.id, changes);
        if (options.json) printJson(userJson(updated));
        else process.stdout.write(`Updated user "${updated.alias}" (${updated.role}, ${updated.active ? 'active' : 'inactive'}).\n`);
      }),
    );

  users
    .command('grant <alias> <category>')
    .description("let a user see the tickets of a category (at once, in every listing and the API)")
    .action((alias: string, category: string) =>
      run(async (context) => {
        const user = await requireUserByAlias(context.db(), alias);
        await grantCategory(context.db(), user.id, category);
        process.stdout.write(`User "${user.alias}" may now see tickets of category "${terminalSafe(category.trim())}".\n`);
      }),
    );

  users
    .command('revoke <alias> <category>')
    .description("take a category right away (at once, in every listing and the API)")
    .action((alias: string, category: string) =>
      run(async (context) => {
        const user = await requireUserByAlias(context.db(), alias);
        const removed = await revokeCategory(context.db(), user.id, category);
        process.stdout.write(removed ? `User "${user.alias}" no longer sees tickets of category "${terminalSafe(category.trim())}".\n` : `User "${user.alias}" had no right to category "${terminalSafe(category.trim())}"; nothing changed.\n`);
      }),
    );

  users
    .command('categories <alias>')
    .description('list the categories a user may see')
    .option('--json', 'print JSON')
    .action((alias: string, options: { json?: boolean }) =>
      run(async (context) => {
        const user = await requireUserByAlias(context.db(), alias);
        const categories = await listUserCategories(context.db(), user.id);
        if (options.json) {
          printJson(categories);
          return;
        }
        process.stdout.write(categories.length === 0 ? `User "${user.alias}" has no category rights.\n` : `${categories.map(terminalSafe).join('\n')}\n`);
      }),
    );

  registerTokenCommands(users, run);
}

function registerTokenCommands(users: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  const tokens = users.command('tokens').description('API tokens: bearer tokens for the HTTP API, acting as their user');

  tokens
    .command('create <alias>')
    .description('create an API token; it is printed once and cannot be shown again')
    .requiredOption('--name <name>', 'what the token is for, such as "reporting script"')
    .option('--json', 'print JSON (the token included, once)')
    .action((alias: string, options: { name: string; json?: boolean }) =>
      run(async (context) => {
        const user = await requireUserByAlias(context.db(), alias);
        const { token, record } = await createApiToken(context.db(), user.id, options.name);
        const warning = 'Store this token now: only its hash is kept, so it cannot be shown again.';
        if (options.json) {
          printJson({ ...apiTokenJson(record), token, warning });
          return;
        }
        process.stdout.write(`${token}\n`);
        process.stderr.write(`Created API token ${record.id} "${terminalSafe(record.name)}" for "${user.alias}". ${warning}\n`);
      }),
    );

  tokens
    .command('list <alias>')
    .description("list a user's API tokens (names and prefixes, never the tokens)")
    .option('--json', 'print JSON')
    .action((alias: string, options: { json?: boolean }) =>
      run(async (context) => {
        const user = await requireUserByAlias(context.db(), alias);
        const rows = await listApiTokens(context.db(), user.id);
        if (options.json) {
          printJson(rows.map(apiTokenJson));
          return;
        }
        printTable(['ID', 'NAME', 'PREFIX', 'CREATED', 'LAST USED', 'REVOKED'], rows.map((t) => [t.id, terminalSafe(t.name), t.prefix, t.createdAt, t.lastUsedAt, t.revokedAt]));
      }),
    );

  tokens
    .command('revoke <id>')
    .description('revoke an API token for good')
    .action((idText: string) =>
      run(async (context) => {
        const id = parseTokenId(idText);
        if ((await findApiToken(context.db(), id)) === null) throw new Error(`API token ${id} does not exist: run \`mailqueue users tokens list <alias>\``);
        const revoked = await revokeApiToken(context.db(), id);
        process.stdout.write(revoked ? `API token ${id} revoked.\n` : `API token ${id} was revoked already.\n`);
      }),
    );
}
