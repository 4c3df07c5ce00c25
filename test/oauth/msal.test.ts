import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';

import { FailureType, MailqueueError } from '../../src/errors.js';
import { createAuthorizationSecrets } from '../../src/oauth/pkce.js';
import { buildAuthorizationUrl, providerScopes, requestToken, type OAuthClientSettings } from '../../src/oauth/provider.js';
import { startFakeOAuthServer, type FakeOAuthServer } from '../support/fake-oauth.js';

const redirectUri = 'http://127.0.0.1:8765/oauth/callback';
const scope = providerScopes.microsoft.imap.join(' ');

describe('Microsoft sign-in through MSAL', () => {
  let fake: FakeOAuthServer;
  let settings: OAuthClientSettings;
  // Host and path of every HTTP(S) request this process starts, seen through Node's diagnostics channel.
  const outgoing: string[] = [];
  const record = (message: unknown): void => {
    const request = (message as { request: ClientRequest }).request;
    outgoing.push(`${request.getHeader('host') ?? request.host}${request.path}`);
  };

  before(async () => {
    fake = await startFakeOAuthServer({ redirectUri });
    process.env.MAILQUEUE_OAUTH_CA_FILE = fake.caFile;
    settings = { provider: 'microsoft', tenant: 'contoso.example', clientId: fake.clientId, clientSecret: fake.clientSecret, redirectUri, authorityUrl: fake.tlsUrl, tokenUrl: null };
    subscribe('http.client.request.start', record);
  });

  after(async () => {
    unsubscribe('http.client.request.start', record);
    await fake?.close();
  });

  async function signInCode(): Promise<{ code: string; codeVerifier: string; url: URL }> {
    const secrets = createAuthorizationSecrets();
    const url = new URL(await buildAuthorizationUrl(settings, { state: secrets.state, codeChallenge: secrets.codeChallenge, scopes: providerScopes.microsoft.imap, loginHint: 'support@example.com' }));
    const location = (await fake.openInBrowser(url.toString())).headers.get('location');
    assert.ok(location, 'the fake redirected with a code');
    const code = new URL(location).searchParams.get('code');
    assert.ok(code);
    return { code, codeVerifier: secrets.codeVerifier, url };
  }

  test('MSAL builds the authorization URL', async () => {
    const { url } = await signInCode();

    assert.equal(url.origin, fake.tlsUrl);
    assert.equal(url.pathname, '/contoso.example/oauth2/v2.0/authorize');
    assert.equal(url.searchParams.get('x-client-SKU'), 'msal.js.node');
    assert.equal(url.searchParams.get('client_info'), '1');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('login_hint'), 'support@example.com');
    assert.equal(url.searchParams.get('response_mode'), 'query');
  });

  test('rotated refresh token from MSAL cache', async () => {
    const { code, codeVerifier } = await signInCode();
    const first = await requestToken(settings, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier, scope });
    assert.ok(first.refreshToken);
    assert.equal(first.accountAddress, fake.account);

    const second = await requestToken(settings, { grant_type: 'refresh_token', refresh_token: first.refreshToken, scope });
    assert.ok(second.refreshToken);
    assert.notEqual(second.refreshToken, first.refreshToken);
    assert.ok(fake.liveRefreshTokens().includes(second.refreshToken));
    assert.ok(fake.isActiveAccessToken(second.accessToken));

    const third = await requestToken(settings, { grant_type: 'refresh_token', refresh_token: second.refreshToken, scope });
    assert.ok(fake.isActiveAccessToken(third.accessToken));

    await assert.rejects(requestToken(settings, { grant_type: 'refresh_token', refresh_token: first.refreshToken, scope }), (error: unknown) => {
      assert.ok(error instanceof MailqueueError);
      assert.equal(error.type, FailureType.ReconnectRequired);
      assert.match(error.message, /invalid_grant: AADSTS50173/);
      return true;
    });
  });

  test('client credentials without refresh token', async () => {
    const tokens = await requestToken(settings, { grant_type: 'client_credentials', scope: providerScopes.microsoft.tenant.join(' ') });

    assert.ok(fake.isActiveAccessToken(tokens.accessToken));
    assert.equal(tokens.refreshToken, null);
    assert.equal(fake.requests.at(-1)?.grant, 'client_credentials');
  });

  test('long 429 Retry-After is retryable', async () => {
    fake.rateLimitNextTokenRequest = 120;

    await assert.rejects(requestToken(settings, { grant_type: 'client_credentials', scope: providerScopes.microsoft.tenant.join(' ') }), (error: unknown) => {
      assert.ok(error instanceof MailqueueError);
      assert.equal(error.type, FailureType.ConnectionFailed);
      assert.match(error.message, /HTTP 429 \(Retry-After 120 s\)/);
      return true;
    });
  });

  test('token endpoint consent error needs approval', async () => {
    fake.consentRequiredNextTokenRequest = true;

    await assert.rejects(requestToken(settings, { grant_type: 'client_credentials', scope: providerScopes.microsoft.tenant.join(' ') }), (error: unknown) => {
      assert.ok(error instanceof MailqueueError);
      assert.equal(error.type, FailureType.ConsentRequired);
      assert.match(error.message, /AADSTS65001/);
      return true;
    });
  });

  test('unreachable authority is retryable', async () => {
    // Port 1 on loopback has no listener, so the connection is refused at once.
    await assert.rejects(requestToken({ ...settings, authorityUrl: 'https://127.0.0.1:1' }, { grant_type: 'client_credentials', scope }), (error: unknown) => {
      assert.ok(error instanceof MailqueueError);
      assert.equal(error.type, FailureType.ConnectionFailed);
      assert.match(error.message, /could not be reached/);
      return true;
    });
  });

  test('plain http authority is rejected', async () => {
    await assert.rejects(requestToken({ ...settings, authorityUrl: fake.url }, { grant_type: 'client_credentials', scope }), (error: unknown) => {
      assert.ok(error instanceof MailqueueError);
      assert.equal(error.type, FailureType.InvalidConfiguration);
      assert.match(error.message, /not an https URL/);
      return true;
    });
  });

  test('MSAL requests reach only the fake', () => {
    const host = new URL(fake.tlsUrl).host;
    const tokenRequests = fake.requests.filter((request) => request.tls);

    assert.ok(tokenRequests.length >= 6);
    for (const request of tokenRequests) {
      assert.equal(request.clientSku, 'msal.js.node', `${request.method} ${request.path} came from MSAL`);
      assert.match(request.path, /^\/contoso\.example\/oauth2\/v2\.0\/(token|authorize)$/);
    }
    assert.ok(!fake.requests.some((request) => request.path.includes('openid-configuration') || request.path.includes('discovery')));
    assert.ok(outgoing.length > 0);
    // The unreachable-authority test aims at loopback port 1 on purpose.
    for (const target of outgoing.filter((request) => !request.startsWith('127.0.0.1:1/'))) assert.ok(target.startsWith(`${host}/`), `request to ${target} left the fake`);
  });
});
