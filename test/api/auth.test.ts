import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { newSecretKey, startTestDatabase, type TestDatabase } from '../support/environment.js';
import { call, createUserWithToken, errorOf, startTestApi, unreachableTemporal, type TestApi } from './api-environment.js';

let database: TestDatabase;
let api: TestApi;
let adminToken: string;
let agentToken: string;

/** Returns a concrete URL for a route pattern, with a plausible value for each path parameter. */
function concreteUrl(pattern: string): string {
  return pattern.replace(/:number\b/g, '1').replace(/:name\b/g, 'default').replace(/:id\b/g, '1').replace(/:(\w+)/g, '1');
}

before(async () => {
  database = await startTestDatabase();
  api = await startTestApi({ db: database.db, temporal: unreachableTemporal(), secretKey: newSecretKey() });
  adminToken = (await createUserWithToken(database.db, 'root', 'admin')).token;
  agentToken = (await createUserWithToken(database.db, 'jana', 'agent')).token;
});

after(async () => {
  await api?.stop();
  await database?.stop();
});

describe('every route', () => {
  test('only OpenAPI and callback public', () => {
    assert.ok(api.routes.length >= 20, `expected the full route table, got ${api.routes.length} routes`);
    const publicRoutes = api.routes.filter((route) => route.access === 'public').map((route) => `${route.method} ${route.url}`);
    assert.deepEqual(publicRoutes.sort(), ['GET /oauth/callback', 'GET /openapi.json']);
  });

  test('answers 401 with WWW-Authenticate without a token', async () => {
    for (const route of api.routes.filter((entry) => entry.access !== 'public')) {
      const response = await call(api.app, null, route.method, concreteUrl(route.url));
      assert.equal(response.statusCode, 401, `${route.method} ${route.url}`);
      assert.match(String(response.headers['www-authenticate']), /^Bearer /, `${route.method} ${route.url}`);
      assert.equal(errorOf(response).code, 'unauthorized');
    }
  });

  test('answers 401 to an unknown token and to a malformed header', async () => {
    for (const route of api.routes.filter((entry) => entry.access !== 'public')) {
      const unknown = await call(api.app, 'mq_thisTokenWasNeverIssuedByAnyone', route.method, concreteUrl(route.url));
      assert.equal(unknown.statusCode, 401, `${route.method} ${route.url}`);
      const malformed = await api.app.inject({ method: route.method as 'GET', url: concreteUrl(route.url), headers: { authorization: `Basic ${Buffer.from('root:secret').toString('base64')}` } });
      assert.equal(malformed.statusCode, 401, `${route.method} ${route.url}`);
    }
  });

  test('answers 403 to an agent on an admin route', async () => {
    const adminRoutes = api.routes.filter((entry) => entry.access === 'admin');
    assert.ok(adminRoutes.length > 0);
    for (const route of adminRoutes) {
      const response = await call(api.app, agentToken, route.method, concreteUrl(route.url));
      assert.equal(response.statusCode, 403, `${route.method} ${route.url}`);
      assert.equal(errorOf(response).code, 'forbidden');
    }
  });

  test('lets the token through to the handler for the roles it allows', async () => {
    for (const route of api.routes.filter((entry) => entry.access !== 'public')) {
      const tokens = route.access === 'agent' ? [agentToken, adminToken] : [adminToken];
      for (const token of tokens) {
        const response = await call(api.app, token, route.method, concreteUrl(route.url));
        assert.ok(![401, 403].includes(response.statusCode), `${route.method} ${route.url} answered ${response.statusCode}: ${response.body}`);
      }
    }
  });
});

describe('a token', () => {
  test('stops working when it is revoked', async () => {
    const { token } = await createUserWithToken(database.db, 'leaver', 'agent');
    assert.equal((await call(api.app, token, 'GET', '/me')).statusCode, 200);
    const tokens = (await call(api.app, adminToken, 'GET', '/users/leaver/tokens')).json() as Array<{ id: number }>;
    assert.equal((await call(api.app, adminToken, 'DELETE', `/users/leaver/tokens/${tokens[0].id}`)).statusCode, 204);
    assert.equal((await call(api.app, token, 'GET', '/me')).statusCode, 401);
  });

  test('stops working when its user is deactivated', async () => {
    const { token } = await createUserWithToken(database.db, 'parttime', 'agent');
    assert.equal((await call(api.app, adminToken, 'PATCH', '/users/parttime', { active: false })).statusCode, 200);
    const response = await call(api.app, token, 'GET', '/me');
    assert.equal(response.statusCode, 401);
    assert.equal(errorOf(response).code, 'unauthorized');
  });

  test('created through the API is shown once and works', async () => {
    const created = await call(api.app, adminToken, 'POST', '/users/jana/tokens', { name: 'script' });
    assert.equal(created.statusCode, 201);
    const { token } = created.json() as { token: string };
    assert.equal(((await call(api.app, token, 'GET', '/me')).json() as { alias: string }).alias, 'jana');
    const listed = (await call(api.app, adminToken, 'GET', '/users/jana/tokens')).body;
    assert.ok(!listed.includes(token), 'a token listing never carries the token');
  });
});

describe('the OpenAPI document', () => {
  test('is served without a token and validates as OpenAPI 3.1', async () => {
    const response = await call(api.app, null, 'GET', '/openapi.json');
    assert.equal(response.statusCode, 200);
    const document = response.json() as { openapi: string; paths: Record<string, Record<string, { security?: unknown }>>; components: { securitySchemes: Record<string, unknown> } };
    assert.equal(document.openapi, '3.1.0');
    await SwaggerParser.validate(structuredClone(document) as never);
    assert.deepEqual(document.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', description: 'An API token; an admin creates one with POST /users/{alias}/tokens' });
  });

  test('lists every protected route with the bearer requirement', async () => {
    const document = (await call(api.app, null, 'GET', '/openapi.json')).json() as { paths: Record<string, Record<string, { security?: unknown }>> };
    for (const route of api.routes.filter((entry) => entry.access !== 'public')) {
      const path = route.url.replace(/:(\w+)/g, '{$1}');
      const operation = document.paths[path]?.[route.method.toLowerCase()];
      assert.ok(operation, `${route.method} ${path} is missing from the document`);
      assert.deepEqual(operation.security, [{ bearerAuth: [] }], `${route.method} ${path}`);
    }
  });

  test('marks passwords write-only', async () => {
    const text = (await call(api.app, null, 'GET', '/openapi.json')).body;
    type Alternative = { properties: { protocol?: { const?: string; enum?: string[] }; password?: { writeOnly?: boolean } } };
    const document = JSON.parse(text) as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, { oneOf?: Alternative[] }> } }> } }>> };
    const body = document.paths['/queues'].post.requestBody?.content['application/json'].schema;
    const passwordProtocols = (body?.properties.incoming.oneOf ?? []).filter((alternative) => alternative.properties.password !== undefined);
    assert.deepEqual(passwordProtocols.map((alternative) => alternative.properties.protocol?.const ?? alternative.properties.protocol?.enum?.[0]), ['imap', 'pop3']);
    for (const alternative of passwordProtocols) assert.equal(alternative.properties.password?.writeOnly, true);
  });
});
