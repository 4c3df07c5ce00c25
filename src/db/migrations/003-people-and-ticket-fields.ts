import type { Knex } from 'knex';

/**
 * Roles, which agents may use which queue, the category and status lists, and the
 * ticket fields that routing rules, views and agents set.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (table) => {
    /** admin or agent. Admins manage configuration; agents work tickets of their categories. */
    table.text('role').notNullable().defaultTo('agent');
    table.boolean('active').notNullable().defaultTo(true);
  });
  await knex.raw(`ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'agent'))`);

  /** Which agents may use a queue: log in to it and be offered its email activities. */
  await knex.schema.createTable('queue_agents', (table) => {
    table.bigInteger('queue_id').notNullable().references('queues.id').onDelete('CASCADE');
    table.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.primary(['queue_id', 'user_id']);
    table.index(['user_id']);
  });

  /** Ticket categories. Tickets and queues refer to a category by its name. */
  await knex.schema.createTable('categories', (table) => {
    table.bigIncrements('id');
    table.text('name').notNullable().unique();
    table.text('description').notNullable().defaultTo('');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  /** Ticket statuses that may be set. `new` exists from the start: every ticket begins there. */
  await knex.schema.createTable('statuses', (table) => {
    table.bigIncrements('id');
    table.text('name').notNullable().unique();
    table.text('description').notNullable().defaultTo('');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex('statuses').insert([
    { name: 'new', description: 'Received, not yet worked on' },
    { name: 'open', description: 'Being worked on' },
    { name: 'pending', description: 'Waiting for the customer' },
    { name: 'solved', description: 'Answered; reopens on a reply' },
    { name: 'closed', description: 'Finished' },
  ]);

  await knex.schema.alterTable('tickets', (table) => {
    /** low, normal, high or urgent. */
    table.text('priority').notNullable().defaultTo('normal');
    table.text('stage');
    table.bigInteger('owner_user_id').references('users.id');
    /** Statuses added beside `status`, such as "vip" or "escalated"; a JSON array of names. */
    table.jsonb('extra_statuses').notNullable().defaultTo('[]');
    table.index(['category', 'last_activity_at']);
    table.index(['status']);
    table.index(['queue_id']);
    table.index(['owner_user_id']);
    table.index(['created_at']);
    table.index(['updated_at']);
  });
  await knex.raw(`ALTER TABLE tickets ADD CONSTRAINT tickets_priority_check CHECK (priority IN ('low', 'normal', 'high', 'urgent'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE tickets DROP CONSTRAINT tickets_priority_check');
  await knex.schema.alterTable('tickets', (table) => {
    table.dropIndex(['category', 'last_activity_at']);
    table.dropIndex(['status']);
    table.dropIndex(['queue_id']);
    table.dropIndex(['owner_user_id']);
    table.dropIndex(['created_at']);
    table.dropIndex(['updated_at']);
    for (const column of ['priority', 'stage', 'owner_user_id', 'extra_statuses']) table.dropColumn(column);
  });
  for (const table of ['statuses', 'categories', 'queue_agents']) await knex.schema.dropTableIfExists(table);
  await knex.raw('ALTER TABLE users DROP CONSTRAINT users_role_check');
  await knex.schema.alterTable('users', (table) => {
    table.dropColumn('role');
    table.dropColumn('active');
  });
}
