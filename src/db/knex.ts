import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import * as initial from './migrations/001-initial.js';
import * as outgoing from './migrations/002-outgoing.js';
import * as peopleAndTicketFields from './migrations/003-people-and-ticket-fields.js';
import * as routingRules from './migrations/004-routing-rules.js';
import * as access from './migrations/005-access.js';
import * as agents from './migrations/006-agents.js';
import * as mailboxAuth from './migrations/007-mailbox-auth.js';

// bigint columns (ids, ticket numbers, UIDs) come back as strings by default; every
// value we keep there fits in a JavaScript number (below 2^53).
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** Migrations in order; names are stored in knex_migrations and must never change. */
const migrations: Array<[name: string, migration: Migration]> = [
  ['001-initial', initial],
  ['002-outgoing', outgoing],
  ['003-people-and-ticket-fields', peopleAndTicketFields],
  ['004-routing-rules', routingRules],
  ['005-access', access],
  ['006-agents', agents],
  ['007-mailbox-auth', mailboxAuth],
];

const migrationSource: Knex.MigrationSource<[string, Migration]> = {
  getMigrations: async () => migrations,
  getMigrationName: ([name]) => name,
  getMigration: async ([, migration]) => migration,
};

export function createDatabase(databaseUrl: string, options: { poolMax?: number } = {}): Knex {
  return knexFactory({
    client: 'pg',
    connection: databaseUrl,
    pool: { min: 0, max: options.poolMax ?? 10 },
    migrations: { migrationSource },
  });
}

/** Applies every pending migration; returns the names applied. */
export async function migrateToLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest()) as [number, string[]];
  return applied;
}
