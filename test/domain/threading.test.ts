import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { decideThreading, threadingKeys, type TaggedTicket, type ThreadingDecision, type ThreadingInput } from '../../src/domain/threading.js';

const requester = 'priya.n@example.org';

function message(overrides: Partial<ThreadingInput>): ThreadingInput {
  return {
    inReplyTo: [],
    references: [],
    ownMessageId: 'incoming-1@mx.example.org',
    subject: 'Printer jam',
    senderAddresses: [requester],
    ...overrides,
  };
}

const ticket100001: TaggedTicket = { ticketId: 7, number: 100001, participants: [requester, 'support@helpdesk.example.com'] };
const ticket100002: TaggedTicket = { ticketId: 8, number: 100002, participants: ['someone.else@example.net'] };

describe('threadingKeys', () => {
  test('in-reply-to then references newest first', () => {
    const keys = threadingKeys(message({ inReplyTo: ['c@x'], references: ['a@x', 'b@x', 'c@x'] }));
    assert.deepEqual(keys, ['c@x', 'b@x', 'a@x']);
  });

  test('own message id left out', () => {
    const keys = threadingKeys(message({ inReplyTo: ['incoming-1@mx.example.org'], references: ['a@x'] }));
    assert.deepEqual(keys, ['a@x']);
  });

  test('angle brackets and empties dropped', () => {
    const keys = threadingKeys(message({ inReplyTo: ['<a@x>', ' '], references: ['a@x'] }));
    assert.deepEqual(keys, ['a@x']);
  });
});

describe('decideThreading', () => {
  const rows: Array<{
    name: string;
    input: ThreadingInput;
    known: Array<[string, number]>;
    tagged: TaggedTicket[];
    expected: ThreadingDecision;
  }> = [
    {
      name: 'in-reply-to known id',
      input: message({ inReplyTo: ['first@mail.example.com'] }),
      known: [['first@mail.example.com', 3]],
      tagged: [],
      expected: { kind: 'reply', ticketId: 3, rule: 'in-reply-to' },
    },
    {
      name: 'reply-all from cc participant',
      input: message({ inReplyTo: ['first@mail.example.com'], senderAddresses: ['cc.person@example.com'] }),
      known: [['first@mail.example.com', 3]],
      tagged: [],
      expected: { kind: 'reply', ticketId: 3, rule: 'in-reply-to' },
    },
    {
      name: 'in-reply-to beats references',
      input: message({ inReplyTo: ['b@x'], references: ['a@x'] }),
      known: [['a@x', 1], ['b@x', 2]],
      tagged: [],
      expected: { kind: 'reply', ticketId: 2, rule: 'in-reply-to' },
    },
    {
      name: 'unknown in-reply-to known references',
      input: message({ inReplyTo: ['outlook-only@staff.example.com'], references: ['first@example.org', 'outlook-only@staff.example.com'] }),
      known: [['first@example.org', 4]],
      tagged: [],
      expected: { kind: 'reply', ticketId: 4, rule: 'references' },
    },
    {
      name: 'references newest id wins',
      input: message({ references: ['old@x', 'new@x'] }),
      known: [['old@x', 1], ['new@x', 2]],
      tagged: [],
      expected: { kind: 'reply', ticketId: 2, rule: 'references' },
    },
    {
      name: 'reused own message id ignored',
      input: message({ ownMessageId: 'static@alerts.example.net', inReplyTo: ['static@alerts.example.net'], references: ['static@alerts.example.net'] }),
      known: [['static@alerts.example.net', 9]],
      tagged: [],
      expected: { kind: 'new', rule: 'no-match' },
    },
    {
      name: 'subject tag from participant',
      input: message({ subject: 'RE: [Ticket#100001] VPN drops' }),
      known: [],
      tagged: [ticket100001],
      expected: { kind: 'reply', ticketId: 7, rule: 'subject-tag' },
    },
    {
      name: 'subject tag participant case-insensitive',
      input: message({ subject: '[Ticket#100001] VPN drops', senderAddresses: ['Priya.N@Example.org'] }),
      known: [],
      tagged: [ticket100001],
      expected: { kind: 'reply', ticketId: 7, rule: 'subject-tag' },
    },
    {
      name: 'subject tag participant via reply-to',
      input: message({ subject: '[Ticket#100001] VPN drops', senderAddresses: ['relay@lists.example.net', requester] }),
      known: [],
      tagged: [ticket100001],
      expected: { kind: 'reply', ticketId: 7, rule: 'subject-tag' },
    },
    {
      name: 'subject tag from stranger',
      input: message({ subject: 'Re: [Ticket#100001] Contract renewal', senderAddresses: ['carl.benner@example.net'] }),
      known: [],
      tagged: [ticket100001],
      expected: { kind: 'new', rule: 'tag-sender-not-participant' },
    },
    {
      name: 'first tag in subject wins',
      input: message({ subject: '[Ticket#100002] about [Ticket#100001]', senderAddresses: [requester, 'someone.else@example.net'] }),
      known: [],
      tagged: [ticket100001, ticket100002],
      expected: { kind: 'reply', ticketId: 8, rule: 'subject-tag' },
    },
    {
      name: 'later tag with participant',
      input: message({ subject: '[Ticket#100002] about [Ticket#100001]' }),
      known: [],
      tagged: [ticket100002, ticket100001],
      expected: { kind: 'reply', ticketId: 7, rule: 'subject-tag' },
    },
    {
      name: 'known reference beats subject tag',
      input: message({ subject: '[Ticket#100001] x', references: ['a@x'], senderAddresses: ['carl.benner@example.net'] }),
      known: [['a@x', 5]],
      tagged: [ticket100001],
      expected: { kind: 'reply', ticketId: 5, rule: 'references' },
    },
    {
      name: 'nothing matches',
      input: message({ inReplyTo: ['unknown@x'], references: ['unknown@x'] }),
      known: [],
      tagged: [],
      expected: { kind: 'new', rule: 'no-match' },
    },
  ];

  for (const row of rows) {
    test(row.name, () => {
      assert.deepEqual(decideThreading(row.input, new Map(row.known), row.tagged), row.expected);
    });
  }
});
