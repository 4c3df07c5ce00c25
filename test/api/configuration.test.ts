import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { newSecretKey, startTestDatabase, type TestDatabase } from '../support/environment.js';
import { call, createUserWithToken, errorOf, startTestApi, unreachableTemporal, type TestApi } from './api-environment.js';

let database: TestDatabase;
let api: TestApi;
let adminToken: string;
let agentToken: string;

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

test('category create, conflict and list', async () => {
  assert.equal((await call(api.app, adminToken, 'POST', '/categories', { name: 'Billing', description: 'Invoices' })).statusCode, 201);
  const again = await call(api.app, adminToken, 'POST', '/categories', { name: 'billing' });
  assert.equal(again.statusCode, 409);
  assert.equal(errorOf(again).field, 'body.name');
  const listed = (await call(api.app, agentToken, 'GET', '/categories')).json() as Array<{ name: string; description: string }>;
  assert.deepEqual(listed.map((category) => [category.name, category.description]), [['Billing', 'Invoices']]);
});

test('a routing rule naming a missing category is rejected at that action', async () => {
  const response = await call(api.app, adminToken, 'POST', '/routing-rules', { name: 'Invoices', actions: [{ type: 'setPriority', priority: 'high' }, { type: 'setCategory', category: 'Sales' }] });
  assert.equal(response.statusCode, 400, response.body);
  assert.equal(errorOf(response).field, 'body.actions.1.category');
  assert.match(errorOf(response).message, /Sales/);
});

test('routing rule order and category use', async () => {
  const first = await call(api.app, adminToken, 'POST', '/routing-rules', { name: 'Invoices', conditions: [{ field: 'subject', operator: 'contains', value: 'invoice' }], actions: [{ type: 'setCategory', category: 'Billing' }] });
  assert.equal(first.statusCode, 201, first.body);
  const second = await call(api.app, adminToken, 'POST', '/routing-rules', { name: 'Urgent', conditions: [{ field: 'subject', operator: 'startsWith', value: 'URGENT' }], actions: [{ type: 'setPriority', priority: 'urgent' }] });
  assert.equal(second.statusCode, 201, second.body);
  const secondId = (second.json() as { id: number }).id;

  const moved = await call(api.app, adminToken, 'POST', `/routing-rules/${secondId}/move`, { position: 1 });
  assert.deepEqual((moved.json() as Array<{ name: string; position: number }>).map((rule) => [rule.position, rule.name]), [[1, 'Urgent'], [2, 'Invoices']]);

  const blocked = await call(api.app, adminToken, 'DELETE', '/categories/Billing');
  assert.equal(blocked.statusCode, 409);
  assert.match(errorOf(blocked).message, /routing rule/);

  assert.equal((await call(api.app, adminToken, 'DELETE', `/routing-rules/${(first.json() as { id: number }).id}`)).statusCode, 204);
  assert.equal((await call(api.app, adminToken, 'DELETE', '/categories/Billing')).statusCode, 204);
  assert.equal((await call(api.app, adminToken, 'GET', '/routing-rules/999')).statusCode, 404);
});

test('templates and time groups round-trip through the API', async () => {
  const template = await call(api.app, adminToken, 'POST', '/templates', { name: 'signature', kind: 'signature', text: '-- \n{{user.name}}' });
  assert.equal(template.statusCode, 201, template.body);
  const changed = await call(api.app, adminToken, 'PUT', '/templates/signature', { kind: 'signature', text: 'Regards, {{user.name}}' });
  assert.equal((changed.json() as { text: string }).text, 'Regards, {{user.name}}');
  const wrongKind = await call(api.app, adminToken, 'PUT', '/templates/signature', { kind: 'autoresponse', subject: 'x', text: 'x' });
  assert.equal(wrongKind.statusCode, 400);

  const group = { name: 'office', timeZone: 'Europe/Prague', weekly: [{ day: 1, open: '08:00', close: '16:00' }], exceptions: [{ date: '2027-12-24', open: false }] };
  assert.equal((await call(api.app, adminToken, 'POST', '/time-groups', group)).statusCode, 201);
  const shown = (await call(api.app, adminToken, 'GET', '/time-groups/office')).json() as Record<string, unknown>;
  assert.deepEqual({ ...shown, createdAt: undefined }, { ...group, createdAt: undefined });
});
