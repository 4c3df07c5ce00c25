import type { Knex } from 'knex';

/**
 * Email routing rules, and the mark that makes routing run exactly once per message.
 * Mail threaded before this migration counts as routed: rules apply to mail that
 * arrives after them, never retroactively.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('routing_rules', (table) => {
    table.bigIncrements('id');
    /** Evaluation order, 1 for the first rule; kept without gaps by the repository. */
    table.integer('position').notNullable();
    table.text('name').notNullable();
    /** The rule document of src/domain/routing-rules.ts, defaults filled in. */
    table.jsonb('document').notNullable();
    table.boolean('active').notNullable().defaultTo(true);
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.index(['position']);
  });

  await knex.schema.alterTable('messages', (table) => {
    /** Set in the transaction that applied the routing rules to the message's ticket. */
    table.timestamp('routed_at', { useTz: true });
  });
  await knex('messages').whereNot('state', 'pending').update({ routed_at: knex.fn.now() });
  await knex.raw(`CREATE INDEX messages_unrouted_index ON messages (queue_id, id) WHERE routed_at IS NULL AND state = 'threaded' AND direction = 'incoming'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS messages_unrouted_index');
  await knex.schema.alterTable('messages', (table) => {
    table.dropColumn('routed_at');
  });
  await knex.schema.dropTableIfExists('routing_rules');
}
