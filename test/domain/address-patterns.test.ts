import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { compilePatterns, matchesAnyPattern } from '../../src/domain/address-patterns.js';

describe('matchesAnyPattern', () => {
  const rows: Array<{ name: string; patterns: string[]; address: string; expected: string | null }> = [
    { name: 'star local part', patterns: ['*@relay.bookings.example.net'], address: '3ab9f0c2e7-kq82x@relay.bookings.example.net', expected: '*@relay.bookings.example.net' },
    { name: 'question mark one char', patterns: ['no?reply@*'], address: 'no-reply@shop.example.org', expected: 'no?reply@*' },
    { name: 'question mark not zero chars', patterns: ['no?reply@*'], address: 'noreply@shop.example.org', expected: null },
    { name: 'question mark not two chars', patterns: ['no?reply@*'], address: 'no--reply@shop.example.org', expected: null },
    { name: 'case-insensitive address', patterns: ['noreply@*'], address: 'NoReply@Alerts.Example.com', expected: 'noreply@*' },
    { name: 'case-insensitive pattern', patterns: ['NOREPLY@*'], address: 'noreply@example.com', expected: 'NOREPLY@*' },
    { name: 'no substring match', patterns: ['service@payments.example.com'], address: 'service.desk@example.com', expected: null },
    { name: 'not contained in longer address', patterns: ['service@payments.example.com'], address: 'customer-service@payments.example.com', expected: null },
    { name: 'not contained at domain end', patterns: ['service@payments.example.com'], address: 'service@payments.example.com.evil.example', expected: null },
    { name: 'exact address', patterns: ['service@payments.example.com'], address: 'Service@Payments.Example.com', expected: 'service@payments.example.com' },
    { name: 'dot is literal', patterns: ['a.b@example.com'], address: 'axb@example.com', expected: null },
    { name: 'plus is literal', patterns: ['a+b@example.com'], address: 'a+b@example.com', expected: 'a+b@example.com' },
    { name: 'bare domain', patterns: ['example.com'], address: 'anyone@example.com', expected: 'example.com' },
    { name: 'bare domain not subdomain', patterns: ['example.com'], address: 'anyone@mail.example.com', expected: null },
    { name: 'at domain', patterns: ['@example.com'], address: 'anyone@example.com', expected: '@example.com' },
    { name: 'wildcard subdomain', patterns: ['*.example.com'], address: 'anyone@mail.example.com', expected: '*.example.com' },
    { name: 'wildcard subdomain not apex', patterns: ['*.example.com'], address: 'anyone@example.com', expected: null },
    { name: 'first matching pattern returned', patterns: ['nobody@x.example', '*@example.com', 'a@example.com'], address: 'a@example.com', expected: '*@example.com' },
    { name: 'empty address', patterns: ['*@*'], address: '  ', expected: null },
    { name: 'trimmed address', patterns: ['a@example.com'], address: ' a@example.com ', expected: 'a@example.com' },
  ];

  for (const row of rows) {
    test(row.name, () => {
      const compiled = compilePatterns(row.patterns);
      assert.equal(matchesAnyPattern(row.address, compiled), row.expected);
    });
  }
});

describe('compilePatterns', () => {
  const invalid: Array<{ name: string; pattern: string; mentions: string }> = [
    { name: 'empty pattern', pattern: '   ', mentions: 'empty' },
    { name: 'inner whitespace', pattern: 'a b@example.com', mentions: 'whitespace' },
    { name: 'two at signs', pattern: 'a@b@example.com', mentions: 'more than one' },
    { name: 'at without domain', pattern: '@', mentions: 'no domain' },
    { name: 'bare local part', pattern: 'noreply', mentions: '"noreply@*"' },
  ];

  for (const row of invalid) {
    test(`rejects ${row.name}`, () => {
      const compiled = compilePatterns([row.pattern]);
      assert.equal(compiled.matchers.length, 0);
      assert.ok(compiled.errors.some((error) => error.includes(row.mentions)), `errors: ${JSON.stringify(compiled.errors)}`);
    });
  }

  test('keeps valid beside invalid', () => {
    const compiled = compilePatterns(['noreply', 'noreply@*']);
    assert.deepEqual(compiled.matchers.map((matcher) => matcher.pattern), ['noreply@*']);
  });
});
