import assert from 'node:assert/strict';
import { test } from 'node:test';

import { normaliseAddress, stripNul } from '../../src/domain/text.js';

const nulRows: Array<{ name: string; input: string; expected: string }> = [
  { name: 'stripNul inner nul', input: 'Nightly export\u0000 failed', expected: 'Nightly export failed' },
  { name: 'stripNul repeated nuls', input: '\u0000a\u0000\u0000b\u0000', expected: 'ab' },
  { name: 'stripNul keeps other controls', input: 'a\tb\u0001c', expected: 'a\tb\u0001c' },
  { name: 'stripNul empty string', input: '', expected: '' },
];

for (const row of nulRows) {
  test(row.name, () => {
    assert.equal(stripNul(row.input), row.expected);
  });
}

const addressRows: Array<{ name: string; input: string; expected: string }> = [
  { name: 'normaliseAddress mixed case', input: 'NoReply@Alerts.Example.com', expected: 'noreply@alerts.example.com' },
  { name: 'normaliseAddress surrounding space', input: '  a@example.org\t', expected: 'a@example.org' },
];

for (const row of addressRows) {
  test(row.name, () => {
    assert.equal(normaliseAddress(row.input), row.expected);
  });
}
