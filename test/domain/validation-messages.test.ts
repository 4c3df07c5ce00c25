import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateQueueConfig } from '../../src/domain/queue-config.js';

test('missing field says required', () => {
  const result = validateQueueConfig({ incoming: { host: 'imap.example.com', user: 'u', password: 'p' } });
  assert.deepEqual(result.errors, ['title: is required']);
});

test('unknown fields named on their path', () => {
  const errors: string[] = validateQueueConfig({ title: 'Support', colour: 'red', incoming: { host: 'imap.example.com', user: 'u', password: 'p', frobnicate: 1 } }).errors;
  assert.ok(errors.includes('colour: unknown field; check its spelling or remove it'), errors.join('\n'));
  assert.ok(errors.includes('incoming.frobnicate: unknown field; check its spelling or remove it'), errors.join('\n'));
});

test('other problems keep the library message', () => {
  const result = validateQueueConfig({ title: 'Support', incoming: { host: 'imap.example.com', user: 'u', password: 'p', port: 70000 } });
  assert.equal(result.errors.length, 1);
  assert.match(result.errors[0], /^incoming\.port: /);
});
