import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decryptSecret } from '../../src/secrets.js';
import { newSecretKey, startTestDatabase, type TestDatabase } from '../support/environment.js';
import { startFakeOAuthServer, type FakeOAuthServer } from '../support/fake-oauth.js';
import { capturingLogger, signIn } from '../support/oauth-sign-in.js';
import { call, createUserWithToken, errorOf, startTestApi, unreachableTemporal, type TestApi } from './api-environment.js';

const redirectUri = 'http://127.0.0.1:8765/oauth/callback';

interface Connected {
  queue: number;
  purpose: string;
  accountAddress: string | null;
  state: string;
  workflowNotified: boolean;
}

describe('OAuth2 over the API', () => {
  let database: TestDatabase;
  let fake: FakeOAuthServer;
  let api: TestApi;
  let adminToken: string;
  const secretKey = newSecretKey();
  const captured = capturingLogger();

  before(async () => {
    database = await startTestDatabase();
    fake = await startFakeOAuthServer({ redirectUri });
    // MSAL accepts only an https authority; the fake's certificate is trusted through this file.
    process.env.MAILQUEUE_OAUTH_CA_FILE = fake.caFile;
    // Nothing listens for Temporal: the callback stores the tokens and reports the workflow not notified.
    api = await startTestApi({ db: database.db, temporal: unreachableTemporal(), secretKey, logger: captured.logger });
    adminToken = (await createUserWithToken(database.db, 'root', 'admin')).token;
  });

  after(async () => {
    delete process.env.MAILQUEUE_OAUTH_CA_FILE;
    await api?.stop();
    await fake?.close();
    await database?.stop();
  });

  test('integration secret is write-only', async () => {
    const created = await call(api.app, adminToken, 'POST', '/oauth/integrations', {
      name: 'contoso',
      provider: 'microsoft',
      tenant: 'contoso.example',
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      redirectUri,
      authorityUrl: fake.tlsUrl,
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal((created.json() as { name: string }).name, 'contoso');
    assert.ok(!created.body.includes(fake.clientSecret), 'the response carries no client secret');

    const listed = await call(api.app, adminToken, 'GET', '/oauth/integrations');
    assert.deepEqual((listed.json() as Array<{ name: string; provider: string }>).map((row) => [row.name, row.provider]), [['contoso', 'microsoft']]);
    assert.ok(!listed.body.includes(fake.clientSecret));

    const twice = await call(api.app, adminToken, 'POST', '/oauth/integrations', { name: 'contoso', provider: 'google', clientId: 'x', clientSecret: 'y', redirectUri });
    assert.equal(twice.statusCode, 409);
    const noTenant = await call(api.app, adminToken, 'POST', '/oauth/integrations', { name: 'fabrikam', provider: 'microsoft', clientId: 'x', clientSecret: 'y', redirectUri });
    assert.equal(noTenant.statusCode, 400);
    assert.match(errorOf(noTenant).message, /tenant is missing/);
  });

  test('imap-oauth2 queue accepted and shown', async () => {
    const created = await call(api.app, adminToken, 'POST', '/queues', {
      number: 1,
      title: 'Microsoft 365 support',
      incoming: { protocol: 'imap-oauth2', provider: 'microsoft', integration: 'contoso', host: '127.0.0.1', port: 1993, user: 'support@example.com' },
      outgoing: { useSameMethodAsIncoming: true, host: '127.0.0.1', port: 1587 },
      agents: { wrapUpSeconds: 30 },
    });
    assert.equal(created.statusCode, 201, created.body);
    const queue = created.json() as { incoming: Record<string, unknown>; outgoing: Record<string, unknown>; agents: Record<string, unknown> };
    assert.equal(queue.incoming.protocol, 'imap-oauth2');
    assert.equal(queue.incoming.provider, 'microsoft');
    assert.equal(queue.incoming.integration, 'contoso');
    assert.equal(queue.outgoing.protocol, 'smtp-oauth2');
    assert.equal(queue.outgoing.useSameMethodAsIncoming, true);
    assert.equal(queue.agents.wrapUpSeconds, 30);
  });

  test('connect completes through public callback', async () => {
    const started = await call(api.app, adminToken, 'POST', '/queues/1/oauth/connect');
    assert.equal(started.statusCode, 200, started.body);
    const { authorizationUrl, state, expiresAt } = started.json() as { authorizationUrl: string; state: string; expiresAt: string };
    assert.equal(new URL(authorizationUrl).searchParams.get('state'), state);
    assert.equal(new URL(authorizationUrl).searchParams.get('code_challenge_method'), 'S256');
    assert.ok(Date.parse(expiresAt) > Date.now());

    const redirect = new URL(await signIn(fake, authorizationUrl, redirectUri));
    const completed = await call(api.app, null, 'GET', `/oauth/callback${redirect.search}&session_state=abc`);
    assert.equal(completed.statusCode, 200, completed.body);
    const connected = completed.json() as Connected;
    assert.deepEqual({ ...connected, workflowNotified: undefined }, { queue: 1, purpose: 'incoming', accountAddress: 'support@example.com', state: 'connected', workflowNotified: undefined });
    assert.equal(connected.workflowNotified, false);

    const row = await database.db('oauth_connections').where({ purpose: 'incoming' }).first();
    assert.equal(decryptSecret(secretKey, row.refresh_token_ciphertext), fake.liveRefreshTokens()[0]);

    const replayed = await call(api.app, null, 'GET', `/oauth/callback${redirect.search}`);
    assert.equal(replayed.statusCode, 400);
    assert.match(errorOf(replayed).message, /no authorization in progress/);
  });

  test('posted redirect address completes sign-in', async () => {
    const started = (await call(api.app, adminToken, 'POST', '/queues/1/oauth/connect', { side: 'incoming' })).json() as { authorizationUrl: string };
    const completed = await call(api.app, adminToken, 'POST', '/oauth/callback', { url: await signIn(fake, started.authorizationUrl, redirectUri) });
    assert.equal(completed.statusCode, 200, completed.body);
    assert.equal((completed.json() as Connected).state, 'connected');
  });

  test('unknown callback state is 400', async () => {
    const response = await call(api.app, null, 'GET', '/oauth/callback?state=made-up&code=abc');
    assert.equal(response.statusCode, 400);
    assert.equal(errorOf(response).code, 'validation_failed');
  });

  test('connect without sign-in names why', async () => {
    const response = await call(api.app, adminToken, 'POST', '/queues/1/oauth/connect', { side: 'outgoing' });
    assert.equal(response.statusCode, 400);
    assert.match(errorOf(response).message, /shares the incoming connection/);
    assert.equal((await call(api.app, adminToken, 'POST', '/queues/99/oauth/connect')).statusCode, 404);
  });

  test('admin approval names permissions and URL', async () => {
    fake.requireAdminApproval = true;
    const started = (await call(api.app, adminToken, 'POST', '/queues/1/oauth/connect')).json() as { authorizationUrl: string };
    const redirect = new URL(await signIn(fake, started.authorizationUrl, redirectUri));

    const response = await call(api.app, null, 'GET', `/oauth/callback${redirect.search}`);
    assert.equal(response.statusCode, 403, response.body);
    const error = errorOf(response);
    assert.equal(error.code, 'consent_required');
    assert.match(error.message, /AADSTS65001/);
    assert.deepEqual(error.details?.permissions, ['https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send']);
    assert.match(String(error.details?.adminConsentUrl), new RegExp(`^${fake.tlsUrl}/contoso\\.example/v2\\.0/adminconsent\\?client_id=${fake.clientId}`));
  });

  test('no secret reaches the log', () => {
    const log = captured.text();
    assert.match(log, /oauth connection stored/);
    for (const secret of [fake.clientSecret, ...fake.issuedAccessTokens, ...fake.liveRefreshTokens()]) assert.ok(!log.includes(secret), 'a secret appeared in the log');
  });
});
