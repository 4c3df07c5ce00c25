import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractMessageIds, syntheticMessageId } from '../../src/domain/message-ids.js';

const cases: Array<[name: string, input: string, expected: string[]]> = [
  ['single bracketed id', '<a@example.com>', ['a@example.com']],
  ['ids glued together', '<a@example.com><b@example.com>', ['a@example.com', 'b@example.com']],
  ['ids separated by commas', '<a@example.com>, <b@example.com>', ['a@example.com', 'b@example.com']],
  ['comments around ids', '(first) <a@example.com> (second (nested)) <b@example.com>', ['a@example.com', 'b@example.com']],
  ['ids folded over lines', '<a@example.com>\r\n <b@example.com>\r\n\t<c@example.com>', ['a@example.com', 'b@example.com', 'c@example.com']],
  ['id folded inside brackets', '<2017052615\r\n 0141.232@example.loc>', ['20170526150141.232@example.loc']],
  ['bare id without brackets', 'a@example.com', ['a@example.com']],
  ['bare ids with commas', 'a@example.com, b@example.com', ['a@example.com', 'b@example.com']],
  ['duplicate ids kept once', '<a@example.com> <b@example.com> <a@example.com>', ['a@example.com', 'b@example.com']],
  ['empty value', '', []],
  ['empty brackets ignored', '<>', []],
  ['comment with a bracket inside', '(see <x@y>) <a@example.com>', ['a@example.com']],
];

for (const [name, input, expected] of cases) {
  test(`extractMessageIds: ${name}`, () => {
    assert.deepEqual(extractMessageIds(input), expected);
  });
}

const hashA = 'a'.repeat(64);
const hashB = 'b'.repeat(64);

test('syntheticMessageId: stable for same hash', () => {
  assert.equal(syntheticMessageId(hashA), syntheticMessageId(hashA));
});

test('syntheticMessageId: differs for other hash', () => {
  assert.notEqual(syntheticMessageId(hashA), syntheticMessageId(hashB));
});

test('syntheticMessageId: uses invalid domain', () => {
  assert.match(syntheticMessageId(hashA), /^[0-9a-f]{32}@mailqueue\.invalid$/);
});

test('syntheticMessageId: rejects non-hex input', () => {
  assert.throws(() => syntheticMessageId('not-a-hash'), /64 hex digits/);
});
