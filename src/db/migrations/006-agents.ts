import type { Knex } from 'knex';

/**
 * Email activities (the unit of work an agent is offered), the agents' mirrored live state,
 * and the queue settings for wrap-up time, offer timeout and multiple statuses.
 * docs/agents-and-activities.md describes the rules these tables enforce.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('queues', (table) => {
    /** Seconds an agent rests after finishing an activity of this queue before the next offer. */
    table.integer('wrap_up_seconds').notNullable().defaultTo(0);
    /** Seconds an agent has to accept an offer before it goes back to the queue. */
    table.integer('offer_timeout_seconds').notNullable().defaultTo(60);
    /** Whether an activity may carry more than one status. */
    table.boolean('allow_multiple_statuses').notNullable().defaultTo(false);
  });

  /** Live state of each agent, written by the agent workflow and read by dispatch in SQL. */
  await knex.schema.createTable('agent_states', (table) => {
    table.bigInteger('user_id').primary().references('users.id').onDelete('CASCADE');
    table.integer('capacity').notNullable().defaultTo(1);
    table.boolean('ready').notNullable().defaultTo(false);
    table.text('pause_reason');
    /** No offers before this instant; it only ever moves forward. */
    table.timestamp('wrap_up_until', { useTz: true });
    /** Longest idle is offered first: the oldest value wins. */
    table.timestamp('idle_since', { useTz: true });
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('ALTER TABLE agent_states ADD CONSTRAINT agent_states_capacity_check CHECK (capacity BETWEEN 1 AND 100)');

  /** Queues an agent is logged in to; always a subset of queue_agents. */
  await knex.schema.createTable('agent_queue_logins', (table) => {
    table.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    table.bigInteger('queue_id').notNullable().references('queues.id').onDelete('CASCADE');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.primary(['user_id', 'queue_id']);
    table.index(['queue_id']);
  });

  await knex.schema.createTable('email_activities', (table) => {
    table.bigIncrements('id');
    table.bigInteger('queue_id').notNullable().references('queues.id');
    table.bigInteger('ticket_id').notNullable().references('tickets.id');
    /** waiting, offered, open or closed. */
    table.text('state').notNullable().defaultTo('waiting');
    /** The agent it is offered to, open with, or was closed by; null while waiting. */
    table.bigInteger('agent_user_id').references('users.id');
    /** Names the offer, so a retried offer finds its own committed result. */
    table.text('offer_id');
    table.timestamp('offered_at', { useTz: true });
    table.timestamp('offer_expires_at', { useTz: true });
    /** Status names set by the agent; a JSON array. */
    table.jsonb('statuses').notNullable().defaultTo('[]');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('assigned_at', { useTz: true });
    table.timestamp('closed_at', { useTz: true });
    table.integer('offer_count').notNullable().defaultTo(0);
    table.index(['queue_id', 'state', 'created_at']);
    table.index(['agent_user_id', 'state']);
  });
  await knex.raw(`ALTER TABLE email_activities ADD CONSTRAINT email_activities_state_check CHECK (state IN ('waiting', 'offered', 'open', 'closed'))`);
  // An offered or open activity has exactly one agent and a waiting one has none: one row, one agent.
  await knex.raw(`ALTER TABLE email_activities ADD CONSTRAINT email_activities_agent_check CHECK (
    (state = 'waiting' AND agent_user_id IS NULL AND offer_id IS NULL)
    OR (state = 'offered' AND agent_user_id IS NOT NULL AND offer_id IS NOT NULL AND offer_expires_at IS NOT NULL)
    OR (state = 'open' AND agent_user_id IS NOT NULL AND assigned_at IS NOT NULL)
    OR (state = 'closed' AND closed_at IS NOT NULL))`);
  // At most one unfinished activity per ticket, so a ticket is never worked by two agents at once.
  await knex.raw(`CREATE UNIQUE INDEX email_activities_one_unfinished_per_ticket ON email_activities (ticket_id) WHERE state IN ('waiting', 'offered', 'open')`);
  await knex.raw(`CREATE INDEX email_activities_offer_expiry ON email_activities (queue_id, offer_expires_at) WHERE state = 'offered'`);

  /** The messages an activity covers; a message belongs to at most one activity. */
  await knex.schema.createTable('email_activity_messages', (table) => {
    table.bigInteger('message_row_id').primary().references('messages.id');
    table.bigInteger('activity_id').notNullable().references('email_activities.id');
    table.index(['activity_id']);
  });

  await knex.schema.alterTable('messages', (table) => {
    /** When the activity step looked at the message (joined, created, or needs no handling). */
    table.timestamp('activity_decided_at', { useTz: true });
  });
  // Mail taken in before agents existed is history, not work: it makes no activities.
  await knex('messages').update({ activity_decided_at: knex.fn.now() });
  await knex.raw(`CREATE INDEX messages_activity_undecided ON messages (queue_id, id) WHERE activity_decided_at IS NULL`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS messages_activity_undecided');
  await knex.schema.alterTable('messages', (table) => table.dropColumn('activity_decided_at'));
  for (const table of ['email_activity_messages', 'email_activities', 'agent_queue_logins', 'agent_states']) await knex.schema.dropTableIfExists(table);
  await knex.schema.alterTable('queues', (table) => {
    for (const column of ['wrap_up_seconds', 'offer_timeout_seconds', 'allow_multiple_statuses']) table.dropColumn(column);
  });
}
