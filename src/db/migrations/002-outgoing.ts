import type { Knex } from 'knex';

/** Outgoing mail: templates, agents, working hours, the outbox, and the queue's sending settings. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('templates', (table) => {
    table.bigIncrements('id');
    table.text('name').notNullable().unique();
    /** sender-info, signature, nps-survey, autoresponse, reply. Decides which variables are allowed. */
    table.text('kind').notNullable();
    /** Only auto-responses have their own subject; others use the ticket's. */
    table.text('subject');
    table.text('text').notNullable().defaultTo('');
    table.text('html');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('users', (table) => {
    table.bigIncrements('id');
    table.text('alias').notNullable().unique();
    table.text('name').notNullable().defaultTo('');
    table.text('email').notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('time_groups', (table) => {
    table.bigIncrements('id');
    table.text('name').notNullable().unique();
    /** TimeGroup from src/domain/working-hours.ts: IANA zone, weekly intervals, dated exceptions. */
    table.jsonb('definition').notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.alterTable('queues', (table) => {
    /** Outgoing SMTP settings without the password; `credentialId` points at `credentials`. */
    table.jsonb('outgoing');
    table.text('sender_address');
    table.text('reply_to');
    table.bigInteger('sender_info_template_id').references('templates.id');
    table.bigInteger('signature_template_id').references('templates.id');
    table.bigInteger('nps_template_id').references('templates.id');
    table.bigInteger('autoresponse_template_id').references('templates.id');
    table.bigInteger('time_group_id').references('time_groups.id');
    table.jsonb('autoresponse_exceptions').notNullable().defaultTo('[]');
    /** { max, windowSeconds } per recipient; null means the default. */
    table.jsonb('autoresponse_rate_limit');
    /** { workflowType, taskQueue, timeoutSeconds } or null. */
    table.jsonb('postprocessing');
  });

  await knex.schema.createTable('outbox', (table) => {
    table.bigIncrements('id');
    table.bigInteger('queue_id').notNullable().references('queues.id');
    table.bigInteger('ticket_id').references('tickets.id');
    /** autoresponse or reply. */
    table.text('kind').notNullable();
    /** One row per purpose: e.g. `autoresponse:<message row id>`; a retry of the decision finds the row. */
    table.text('idempotency_key').notNullable().unique();
    /** Without angle brackets; fixed before the first attempt so retries reuse it. */
    table.text('message_id').notNullable().unique();
    table.text('envelope_from').notNullable();
    table.jsonb('recipients').notNullable();
    table.text('subject').notNullable();
    table.binary('raw').notNullable();
    /** pending, sending, sent, failed, handed-to-event. */
    table.text('state').notNullable().defaultTo('pending');
    table.integer('attempts').notNullable().defaultTo(0);
    table.text('last_error');
    table.text('failure_reason');
    table.bigInteger('user_id').references('users.id');
    /** The incoming message this mail answers, if any. */
    table.bigInteger('in_reply_to_message_row_id').references('messages.id');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('attempted_at', { useTz: true });
    table.timestamp('sent_at', { useTz: true });
    table.index(['queue_id', 'state']);
    table.index(['kind', 'created_at']);
  });

  await knex.schema.alterTable('messages', (table) => {
    /** Set once the auto-response decision for this message is written (sent, queued or skipped). */
    table.timestamp('autoresponse_decided_at', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (table) => table.dropColumn('autoresponse_decided_at'));
  await knex.schema.dropTableIfExists('outbox');
  await knex.schema.alterTable('queues', (table) => {
    for (const column of ['outgoing', 'sender_address', 'reply_to', 'sender_info_template_id', 'signature_template_id', 'nps_template_id', 'autoresponse_template_id', 'time_group_id', 'autoresponse_exceptions', 'autoresponse_rate_limit', 'postprocessing']) {
      table.dropColumn(column);
    }
  });
  for (const table of ['time_groups', 'users', 'templates']) await knex.schema.dropTableIfExists(table);
}
