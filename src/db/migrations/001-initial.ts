import type { Knex } from 'knex';

/** Queues, secrets, mailbox cursors, stored messages and tickets. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('settings', (table) => {
    table.text('key').primary();
    table.jsonb('value').notNullable();
  });

  await knex.schema.createTable('credentials', (table) => {
    table.bigIncrements('id');
    table.text('kind').notNullable();
    /** AES-256-GCM ciphertext in the `v1:` format of src/secrets.ts. */
    table.text('ciphertext').notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('queues', (table) => {
    table.bigIncrements('id');
    table.text('type').notNullable().defaultTo('email');
    table.integer('number').notNullable();
    table.text('title').notNullable();
    table.text('description').notNullable().defaultTo('');
    table.boolean('active').notNullable().defaultTo(true);
    table.text('category');
    table.integer('poll_interval_seconds').notNullable();
    table.integer('max_message_bytes').notNullable();
    /** Incoming server settings without the password; `credentialId` points at `credentials`. */
    table.jsonb('incoming').notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('deleted_at', { useTz: true });
    // Deleted queues keep their number, so a number is never handed out twice.
    table.unique(['type', 'number']);
  });

  await knex.schema.createTable('mailbox_cursors', (table) => {
    table.bigInteger('queue_id').notNullable().references('queues.id');
    table.text('folder').notNullable();
    table.text('uid_validity').notNullable();
    table.bigInteger('last_uid').notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.primary(['queue_id', 'folder']);
  });

  await knex.schema.createTable('tickets', (table) => {
    table.bigIncrements('id');
    table.bigInteger('number').notNullable().unique();
    table.bigInteger('queue_id').notNullable().references('queues.id');
    table.text('title').notNullable();
    table.text('category');
    table.text('status').notNullable().defaultTo('new');
    table.text('requester_address');
    table.text('requester_name').notNullable().defaultTo('');
    /** Set when the requester could not be taken from From, e.g. `from-return-path`. */
    table.text('requester_flag');
    table.jsonb('custom_fields').notNullable().defaultTo('{}');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('last_activity_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('ticket_participants', (table) => {
    table.bigInteger('ticket_id').notNullable().references('tickets.id');
    table.text('address').notNullable();
    table.text('name').notNullable().defaultTo('');
    /** requester, cc, participant or recipient (one of our own addresses the mail reached). */
    table.text('role').notNullable();
    table.primary(['ticket_id', 'address']);
  });

  await knex.schema.createTable('messages', (table) => {
    table.bigIncrements('id');
    table.bigInteger('queue_id').notNullable().references('queues.id');
    table.bigInteger('ticket_id').references('tickets.id');
    table.text('direction').notNullable();
    /** Where the row came from: `imap:<folder>:<uidvalidity>:<uid>`, `import:<sha256>`, `outbox:<id>`. */
    table.text('source_key').notNullable();
    table.text('message_id').notNullable();
    table.boolean('message_id_synthetic').notNullable().defaultTo(false);
    /** SHA-256 of the raw bytes without delivery headers (Received, Delivered-To, Return-Path…). */
    table.text('content_hash').notNullable();
    table.jsonb('in_reply_to').notNullable().defaultTo('[]');
    table.jsonb('references').notNullable().defaultTo('[]');
    table.jsonb('from').notNullable().defaultTo('[]');
    table.jsonb('sender');
    table.jsonb('to').notNullable().defaultTo('[]');
    table.jsonb('cc').notNullable().defaultTo('[]');
    table.jsonb('reply_to').notNullable().defaultTo('[]');
    table.text('return_path');
    table.text('subject').notNullable().defaultTo('');
    table.timestamp('date', { useTz: true });
    table.text('text').notNullable().defaultTo('');
    table.text('html');
    table.jsonb('headers').notNullable().defaultTo('[]');
    table.text('content_type').notNullable().defaultTo('text/plain');
    table.boolean('auto_submitted').notNullable().defaultTo(false);
    table.boolean('bounce').notNullable().defaultTo(false);
    table.boolean('list').notNullable().defaultTo(false);
    table.jsonb('automation_reasons').notNullable().defaultTo('[]');
    table.jsonb('bounce_report');
    table.text('parse_error');
    table.binary('raw').notNullable();
    table.integer('raw_size').notNullable();
    /** pending (not yet threaded), threaded, duplicate, own (our own mail came back), held (quarantined). */
    table.text('state').notNullable().defaultTo('pending');
    table.text('state_reason');
    /** Which threading rule placed the message: in-reply-to, references, subject-tag, new, … */
    table.text('thread_rule');
    table.bigInteger('duplicate_of').references('messages.id');
    /** Archive imports never trigger mail. */
    table.boolean('imported').notNullable().defaultTo(false);
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.unique(['queue_id', 'source_key']);
    table.index(['message_id']);
    table.index(['queue_id', 'state']);
    table.index(['ticket_id']);
  });

  await knex.schema.createTable('attachments', (table) => {
    table.bigIncrements('id');
    table.bigInteger('message_row_id').notNullable().references('messages.id').onDelete('CASCADE');
    table.text('filename').notNullable();
    table.text('content_type').notNullable();
    table.integer('size').notNullable();
    table.text('content_id');
    table.boolean('inline').notNullable().defaultTo(false);
    table.text('sha256').notNullable();
    table.binary('content').notNullable();
    table.index(['message_row_id']);
  });

  await knex.schema.createTable('mailbox_items', (table) => {
    table.bigIncrements('id');
    table.bigInteger('queue_id').notNullable().references('queues.id');
    table.text('folder').notNullable();
    table.text('uid_validity').notNullable();
    table.bigInteger('uid').notNullable();
    /** The stored message this server copy maps to (possibly an earlier copy of the same mail). */
    table.bigInteger('message_row_id').notNullable().references('messages.id');
    table.timestamp('deleted_from_server_at', { useTz: true });
    table.unique(['queue_id', 'folder', 'uid_validity', 'uid']);
  });

  await knex.schema.createTable('ticket_events', (table) => {
    table.bigIncrements('id');
    table.bigInteger('ticket_id').notNullable().references('tickets.id');
    table.bigInteger('message_row_id').references('messages.id');
    /** e.g. delivery-failure, autoresponse-skipped. */
    table.text('kind').notNullable();
    table.jsonb('data').notNullable().defaultTo('{}');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.index(['ticket_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['ticket_events', 'mailbox_items', 'attachments', 'messages', 'ticket_participants', 'tickets', 'mailbox_cursors', 'queues', 'credentials', 'settings']) {
    await knex.schema.dropTableIfExists(table);
  }
}
