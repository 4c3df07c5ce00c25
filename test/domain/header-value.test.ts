import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { singleLineHeaderValue } from '../../src/domain/header-value.js';

describe('singleLineHeaderValue', () => {
  it('replaces CRLF with one space', () => {
    assert.equal(singleLineHeaderValue('Hello\r\nBcc: x@example.com'), 'Hello Bcc: x@example.com');
  });

  it('replaces lone CR and LF', () => {
    assert.equal(singleLineHeaderValue('a\rb\nc'), 'a b c');
  });

  it('replaces NUL, tab and DEL', () => {
    assert.equal(singleLineHeaderValue('a\u0000b\tc\u007fd'), 'a b c d');
  });

  it('replaces Unicode line separators', () => {
    assert.equal(singleLineHeaderValue('a\u0085b\u2028c\u2029d'), 'a b c d');
  });

  it('keeps non-ASCII text unchanged', () => {
    assert.equal(singleLineHeaderValue('Grüße – 日本語 Zoë'), 'Grüße – 日本語 Zoë');
  });

  it('keeps empty string empty', () => {
    assert.equal(singleLineHeaderValue(''), '');
  });
});
