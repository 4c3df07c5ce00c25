import type { Knex } from 'knex';

/**
 * Category rights, helpdesks, saved views with their shares, API tokens, and the
 * ticket indexes that view filters need.
 */
export async function up(knex: Knex): Promise<void> {
  /** Which categories' tickets a user may see. Renaming a category carries its rights along. */
  await knex.schema.createTable('user_category_rights', (table) => {
    table.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    table.text('category').notNullable().references('categories.name').onUpdate('CASCADE').onDelete('CASCADE');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.primary(['user_id', 'category']);
    table.index(['category']);
  });

  /** A helpdesk groups queues, e.g. one per country or product line. */
  await knex.schema.createTable('helpdesks', (table) => {
    table.bigIncrements('id');
    table.text('name').notNullable().unique();
    table.text('description').notNullable().defaultTo('');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.alterTable('queues', (table) => {
    table.bigInteger('helpdesk_id').references('helpdesks.id').onDelete('SET NULL');
    table.index(['helpdesk_id']);
  });

  /**
   * Saved ticket filters. A view without an owner (created by an operator, or whose owner
   * was deleted) stays open to the users and roles it is shared with.
   */
  await knex.schema.createTable('views', (table) => {
    table.bigIncrements('id');
    table.text('name').notNullable();
    table.bigInteger('owner_user_id').references('users.id').onDelete('SET NULL');
    /** `{ filters, order }` as validated by src/domain/view-definition.ts. */
    table.jsonb('definition').notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.index(['owner_user_id']);
  });

  /** Who else may open a view: one user, or everyone with one role. */
  await knex.schema.createTable('view_shares', (table) => {
    table.bigIncrements('id');
    table.bigInteger('view_id').notNullable().references('views.id').onDelete('CASCADE');
    table.bigInteger('user_id').references('users.id').onDelete('CASCADE');
    table.text('role');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.index(['user_id']);
    table.index(['role']);
  });
  await knex.raw(`ALTER TABLE view_shares ADD CONSTRAINT view_shares_target_check CHECK (num_nonnulls(user_id, role) = 1)`);
  await knex.raw(`ALTER TABLE view_shares ADD CONSTRAINT view_shares_role_check CHECK (role IN ('admin', 'agent'))`);
  await knex.raw('CREATE UNIQUE INDEX view_shares_user_unique ON view_shares (view_id, user_id) WHERE user_id IS NOT NULL');
  await knex.raw('CREATE UNIQUE INDEX view_shares_role_unique ON view_shares (view_id, role) WHERE role IS NOT NULL');

  /** Bearer tokens for the HTTP API. Only the SHA-256 of a token is kept. */
  await knex.schema.createTable('api_tokens', (table) => {
    table.bigIncrements('id');
    table.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    table.text('name').notNullable();
    table.text('token_hash').notNullable().unique();
    /** The first characters of the token, so a person can tell tokens apart in a listing. */
    table.text('prefix').notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('last_used_at', { useTz: true });
    table.timestamp('revoked_at', { useTz: true });
    table.index(['user_id']);
  });

  // Custom field filters use containment (@>), which jsonb_path_ops serves with a smaller index.
  await knex.raw('CREATE INDEX tickets_custom_fields_gin ON tickets USING GIN (custom_fields jsonb_path_ops)');
  await knex.schema.alterTable('tickets', (table) => {
    table.index(['queue_id', 'last_activity_at']);
    table.index(['category', 'status']);
    table.index(['stage']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tickets', (table) => {
    table.dropIndex(['queue_id', 'last_activity_at']);
    table.dropIndex(['category', 'status']);
    table.dropIndex(['stage']);
  });
  await knex.raw('DROP INDEX tickets_custom_fields_gin');
  for (const table of ['api_tokens', 'view_shares', 'views']) await knex.schema.dropTableIfExists(table);
  await knex.schema.alterTable('queues', (table) => {
    table.dropIndex(['helpdesk_id']);
    table.dropColumn('helpdesk_id');
  });
  for (const table of ['helpdesks', 'user_category_rights']) await knex.schema.dropTableIfExists(table);
}
