import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { validateQueueConfig } from '../../src/domain/queue-config.js';
import { createIntegration, findConnection, loadClientSettings } from '../../src/db/oauth.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { FailureType, MailqueueError } from '../../src/errors.js';
import { completeAuthorization, startAuthorization } from '../../src/oauth/connect.js';
import { createClientCredentialsTokenProvider, tokenProviderForQueue } from '../../src/oauth/token-provider.js';
import { decryptSecret } from '../../src/secrets.js';
import { newSecretKey, startTestDatabase, type TestDatabase } from '../support/environment.js';
import { startFakeOAuthServer, type FakeOAuthServer } from '../support/fake-oauth.js';
import { capturingLogger, signIn } from '../support/oauth-sign-in.js';

const redirectUri = 'http://127.0.0.1:8765/oauth/callback';

async function expireStoredAccessToken(database: TestDatabase, connectionId: number): Promise<void> {
  await database.db('oauth_connections').where({ id: connectionId }).update({ access_token_expires_at: new Date(0) });
}

describe('OAuth2 connection', () => {
  let database: TestDatabase;
  let fake: FakeOAuthServer;
  const secretKey = newSecretKey();
  const captured = capturingLogger();
  const deps = () => ({ db: database.db, secretKey, logger: captured.logger });
  let queue: QueueRecord;

  before(async () => {
    database = await startTestDatabase();
    fake = await startFakeOAuthServer({ redirectUri });
    process.env.MAILQUEUE_OAUTH_CA_FILE = fake.caFile;
    await createIntegration(database.db, secretKey, { name: 'contoso', provider: 'microsoft', tenant: 'contoso.example', clientId: fake.clientId, clientSecret: fake.clientSecret, redirectUri, authorityUrl: fake.tlsUrl });
    const validated = validateQueueConfig({
      title: 'Microsoft 365 support',
      incoming: { protocol: 'imap-oauth2', provider: 'microsoft', integration: 'contoso', host: '127.0.0.1', port: 1993, user: 'support@example.com' },
      outgoing: { useSameMethodAsIncoming: true, host: '127.0.0.1', port: 1587 },
    });
    assert.deepEqual(validated.errors, []);
    assert.ok(validated.config);
    queue = await createQueue(database.db, secretKey, validated.config);
  });

  after(async () => {
    await fake?.close();
    await database?.stop();
  });

  test('microsoft http authority is rejected', async () => {
    await assert.rejects(
      createIntegration(database.db, secretKey, { name: 'plain', provider: 'microsoft', tenant: 'contoso.example', clientId: fake.clientId, clientSecret: fake.clientSecret, redirectUri, authorityUrl: fake.url }),
      (error: unknown) => {
        assert.ok(error instanceof MailqueueError);
        assert.equal(error.type, FailureType.InvalidConfiguration);
        assert.match(error.message, /MSAL requires https/);
        return true;
      },
    );
  });

  test('queue without sign-in asks for connect', async () => {
    await assert.rejects(tokenProviderForQueue(deps(), queue, 'incoming'), (error: unknown) => error instanceof MailqueueError && error.type === FailureType.ReconnectRequired && /oauth connect --queue/.test(error.message));
  });

  test('connect stores tokens encrypted after state and PKCE check', async () => {
    const started = await startAuthorization(deps(), queue, 'incoming');
    const url = new URL(started.url);
    assert.equal(url.searchParams.get('state'), started.state);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.match(url.searchParams.get('scope') ?? '', /IMAP\.AccessAsUser\.All/);
    assert.equal(url.pathname, '/contoso.example/oauth2/v2.0/authorize');

    const connection = await completeAuthorization(deps(), await signIn(fake, started.url));

    assert.equal(connection.state, 'connected');
    assert.equal(connection.accountAddress, 'support@example.com');
    const row = await database.db('oauth_connections').where({ id: connection.id }).first();
    const [liveRefreshToken] = fake.liveRefreshTokens();
    assert.equal(decryptSecret(secretKey, row.refresh_token_ciphertext), liveRefreshToken);
    assert.ok(!String(row.refresh_token_ciphertext).includes(liveRefreshToken));
  });

  test('callback with a used state is refused', async () => {
    const started = await startAuthorization(deps(), queue, 'incoming');
    const callback = await signIn(fake, started.url);
    await completeAuthorization(deps(), callback);

    await assert.rejects(completeAuthorization(deps(), callback), /no authorization in progress/);
  });

  test('rotated refresh token is stored and used', async () => {
    const connection = await findConnection(database.db, queue.id, 'incoming');
    assert.ok(connection);

    for (let round = 0; round < 2; round++) {
      const previous = decryptSecret(secretKey, (await database.db('oauth_connections').where({ id: connection.id }).first()).refresh_token_ciphertext);
      await expireStoredAccessToken(database, connection.id);
      const tokens = await tokenProviderForQueue(deps(), queue, 'incoming');
      const accessToken = await tokens.getAccessToken();

      assert.ok(fake.isActiveAccessToken(accessToken));
      const row = await database.db('oauth_connections').where({ id: connection.id }).first();
      const stored = decryptSecret(secretKey, row.refresh_token_ciphertext);
      assert.notEqual(stored, previous, 'the rotated refresh token replaced the spent one');
      assert.ok(fake.liveRefreshTokens().includes(stored));
      assert.ok(!fake.liveRefreshTokens().includes(previous));
    }
  });

  test('outgoing side shares the incoming token', async () => {
    const incoming = await (await tokenProviderForQueue(deps(), queue, 'incoming')).getAccessToken();
    const outgoing = await (await tokenProviderForQueue(deps(), queue, 'outgoing')).getAccessToken();

    assert.equal(outgoing, incoming);
  });

  test('token endpoint 429 with Retry-After is waited out', async () => {
    const connection = await findConnection(database.db, queue.id, 'incoming');
    assert.ok(connection);
    await expireStoredAccessToken(database, connection.id);
    fake.rateLimitNextTokenRequest = 1;
    const grantsBefore = fake.grants.length;
    const startedAt = Date.now();

    const accessToken = await (await tokenProviderForQueue(deps(), queue, 'incoming')).getAccessToken();

    assert.ok(fake.isActiveAccessToken(accessToken));
    assert.deepEqual(fake.grants.slice(grantsBefore), ['refresh_token', 'refresh_token']);
    assert.ok(Date.now() - startedAt >= 900);
  });

  test('revoked grant degrades the connection until reconnect', async () => {
    const connection = await findConnection(database.db, queue.id, 'incoming');
    assert.ok(connection);
    fake.revokeAll();
    await expireStoredAccessToken(database, connection.id);

    await assert.rejects((await tokenProviderForQueue(deps(), queue, 'incoming')).getAccessToken(), (error: unknown) => error instanceof MailqueueError && error.type === FailureType.ReconnectRequired);
    const degraded = await findConnection(database.db, queue.id, 'incoming');
    assert.equal(degraded?.state, 'degraded');
    assert.ok(degraded?.degradedSince);
    assert.match(degraded?.lastError ?? '', /invalid_grant/);

    const grantsBefore = fake.grants.length;
    await assert.rejects((await tokenProviderForQueue(deps(), queue, 'incoming')).getAccessToken(), /refused earlier/);
    assert.equal(fake.grants.length, grantsBefore, 'a degraded connection does not ask the provider again');

    const started = await startAuthorization(deps(), queue, 'incoming');
    const reconnected = await completeAuthorization(deps(), await signIn(fake, started.url));
    assert.equal(reconnected.state, 'connected');
    assert.equal(reconnected.degradedSince, null);
    assert.ok(fake.isActiveAccessToken(await (await tokenProviderForQueue(deps(), queue, 'incoming')).getAccessToken()));
  });

  test('admin approval answer names permissions and consent URL', async () => {
    fake.requireAdminApproval = true;
    const started = await startAuthorization(deps(), queue, 'incoming');

    await assert.rejects(completeAuthorization(deps(), await signIn(fake, started.url)), (error: unknown) => {
      assert.ok(error instanceof MailqueueError);
      assert.equal(error.type, FailureType.ConsentRequired);
      assert.match(error.message, /AADSTS65001/);
      assert.match(error.message, /https:\/\/outlook\.office\.com\/IMAP\.AccessAsUser\.All/);
      assert.match(error.message, new RegExp(`${fake.tlsUrl}/contoso\\.example/v2\\.0/adminconsent\\?client_id=${fake.clientId}`));
      return true;
    });
  });

  test('client credentials token for the tenant application', async () => {
    const integration = await database.db('oauth_integrations').where({ name: 'contoso' }).first('id');
    const provider = createClientCredentialsTokenProvider(await loadClientSettings(database.db, secretKey, integration.id));

    const first = await provider.getAccessToken();
    const second = await provider.getAccessToken();

    assert.ok(fake.isActiveAccessToken(first));
    assert.equal(second, first);
    assert.equal(fake.grants.at(-1), 'client_credentials');
  });

  test('no token or client secret reaches the log', () => {
    const log = captured.text();
    assert.match(log, /oauth access token refreshed/);
    const secrets = [...fake.issuedAccessTokens, ...fake.liveRefreshTokens(), fake.clientSecret];
    for (const secret of secrets) assert.ok(!log.includes(secret), 'a secret appeared in the log');
    assert.ok(!/rt-[A-Za-z0-9_-]{20,}|at-[A-Za-z0-9_-]{20,}/.test(log));
  });
});
