import type { Knex } from 'knex';

/**
 * OAuth2 integrations and connections, cursors of protocol-neutral mail sources, the keys of
 * source messages already stored, and the alias address a message was delivered to.
 */
export async function up(knex: Knex): Promise<void> {
  /** One registered application at an identity provider, configured once and referenced by queues. */
  await knex.schema.createTable('oauth_integrations', (table) => {
    table.bigIncrements('id');
    table.text('name').notNullable().unique();
    /** microsoft or google. */
    table.text('provider').notNullable();
    /** Microsoft tenant id or domain (`organizations`, `common` for delegated sign-in); null for Google. */
    table.text('tenant');
    table.text('client_id').notNullable();
    table.bigInteger('client_secret_credential_id').notNullable().references('credentials.id');
    table.text('redirect_uri').notNullable();
    /** Base URLs that replace the provider's public endpoints; null in production, set by tests to local fakes. */
    table.text('authority_url');
    table.text('token_url');
    table.text('api_url');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE oauth_integrations ADD CONSTRAINT oauth_integrations_provider_check CHECK (provider IN ('microsoft', 'google'))`);

  /** A signed-in account of a queue: its rotated refresh token and the cached access token, both encrypted. */
  await knex.schema.createTable('oauth_connections', (table) => {
    table.bigIncrements('id');
    table.bigInteger('integration_id').notNullable().references('oauth_integrations.id');
    table.bigInteger('queue_id').notNullable().references('queues.id');
    /** incoming, or outgoing when the outgoing side does not share the incoming connection. */
    table.text('purpose').notNullable();
    table.text('account_address');
    table.jsonb('scopes').notNullable().defaultTo('[]');
    table.text('refresh_token_ciphertext');
    table.text('access_token_ciphertext');
    table.timestamp('access_token_expires_at', { useTz: true });
    /** pending (never signed in), connected, degraded (refresh refused; reconnect needed). */
    table.text('state').notNullable().defaultTo('pending');
    table.text('last_error');
    /** Start of the current failure streak, null while connected. */
    table.timestamp('degraded_since', { useTz: true });
    table.timestamp('connected_at', { useTz: true });
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.unique(['queue_id', 'purpose']);
  });
  await knex.raw(`ALTER TABLE oauth_connections ADD CONSTRAINT oauth_connections_state_check CHECK (state IN ('pending', 'connected', 'degraded'))`);
  await knex.raw(`ALTER TABLE oauth_connections ADD CONSTRAINT oauth_connections_purpose_check CHECK (purpose IN ('incoming', 'outgoing'))`);

  /** An authorization started and not yet completed: the state parameter and the PKCE verifier. */
  await knex.schema.createTable('oauth_pending_authorizations', (table) => {
    table.text('state').primary();
    table.bigInteger('connection_id').notNullable().references('oauth_connections.id').onDelete('CASCADE');
    table.text('code_verifier_ciphertext').notNullable();
    table.text('redirect_uri').notNullable();
    table.timestamp('expires_at', { useTz: true }).notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  /** Cursor of a protocol-neutral mail source (Gmail history id, Graph delta link); opaque JSON. */
  await knex.schema.createTable('mailbox_sync_state', (table) => {
    table.bigInteger('queue_id').notNullable().references('queues.id');
    table.text('protocol').notNullable();
    table.jsonb('cursor');
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.primary(['queue_id', 'protocol']);
  });

  /**
   * Keys of source messages (`pop3:<UIDL>`, `gmail:<id>`, `graph:<id>`) whose row committed, including
   * copies found to be duplicates of a stored mail, so they are neither downloaded nor stored again.
   */
  await knex.schema.createTable('mailbox_source_items', (table) => {
    table.bigInteger('queue_id').notNullable().references('queues.id');
    table.text('source_key').notNullable();
    table.bigInteger('message_row_id').notNullable().references('messages.id');
    /** Set once the server copy was deleted ("do not keep emails"). */
    table.timestamp('deleted_from_server_at', { useTz: true });
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.primary(['queue_id', 'source_key']);
  });

  await knex.schema.alterTable('messages', (table) => {
    /** Addresses the provider says the message was delivered to (an alias of the mailbox). */
    table.jsonb('delivered_to').notNullable().defaultTo('[]');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (table) => {
    table.dropColumn('delivered_to');
  });
  for (const table of ['mailbox_source_items', 'mailbox_sync_state', 'oauth_pending_authorizations', 'oauth_connections', 'oauth_integrations']) {
    await knex.schema.dropTableIfExists(table);
  }
}
