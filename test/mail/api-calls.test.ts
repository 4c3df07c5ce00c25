import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { pino } from 'pino';

import { FailureType, MailqueueError } from '../../src/errors.js';
import { callWithRetries, parseRetryAfter, type ApiFailureFactory, type ApiOutcome } from '../../src/mail/api-calls.js';
import { checkEnvelopeAgainstHeaders, deliveredToAddresses, headerRecipients } from '../../src/mail/mime-headers.js';
import { CountingTokens, failureOf } from '../support/cloud-mail.js';

const silent = pino({ level: 'silent' });

const failures: ApiFailureFactory = {
  unauthorized: (status, code) => new MailqueueError(FailureType.AuthenticationFailed, `unauthorized ${status} ${code}`),
  throttled: (status, code, retryAfterMs) => new MailqueueError(FailureType.ConnectionFailed, `throttled ${status} ${code}`, { retryAfterMs }),
};

/** Returns the outcomes in order, one per attempt, and records the tokens it was given. */
function scripted<T>(outcomes: Array<ApiOutcome<T>>): { attempt: (token: string) => Promise<ApiOutcome<T>>; tokens: string[] } {
  const seen: string[] = [];
  return {
    tokens: seen,
    attempt: async (token) => {
      seen.push(token);
      const next = outcomes.shift();
      assert.ok(next, 'more attempts than scripted');
      return next;
    },
  };
}

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-12-04T10:00:00Z');
  const cases: Array<[string | null, number | null]> = [
    ['5', 5000],
    [' 0 ', 0],
    ['Fri, 04 Dec 2026 10:00:30 GMT', 30_000],
    ['Fri, 04 Dec 2026 09:00:00 GMT', 0],
    ['soon', null],
    ['', null],
    [null, null],
  ];

  for (const [value, expected] of cases) {
    it(`reads ${JSON.stringify(value)}`, () => {
      assert.equal(parseRetryAfter(value, now), expected);
    });
  }
});

describe('callWithRetries', () => {
  it('doubles the wait without Retry-After', async () => {
    const tokens = new CountingTokens('t');
    const script = scripted<string>([
      { kind: 'throttled', status: 503, code: 'x', retryAfterMs: null },
      { kind: 'throttled', status: 503, code: 'x', retryAfterMs: null },
      { kind: 'ok', value: 'done' },
    ]);

    const started = Date.now();
    const value = await callWithRetries(tokens, script.attempt, failures, { baseWaitMs: 100, maxAttempts: 3 }, silent, {});

    assert.equal(value, 'done');
    assert.ok(Date.now() - started >= 300, 'waited 100 ms, then 200 ms');
  });

  it('second 401 is not retried again', async () => {
    const tokens = new CountingTokens('t');
    const script = scripted<string>([
      { kind: 'unauthorized', status: 401, code: 'a' },
      { kind: 'throttled', status: 429, code: 'b', retryAfterMs: 0 },
      { kind: 'unauthorized', status: 401, code: 'c' },
    ]);

    const error = await failureOf(callWithRetries(tokens, script.attempt, failures, {}, silent, {}));

    assert.equal(error.type, FailureType.AuthenticationFailed);
    assert.deepEqual(script.tokens, ['t-1', 't-2', 't-2']);
  });

  it('failed outcome is thrown as it is', async () => {
    const original = new MailqueueError(FailureType.ProtocolError, 'bad answer');
    const script = scripted<string>([{ kind: 'failed', error: original }]);

    const error = await failureOf(callWithRetries(new CountingTokens('t'), script.attempt, failures, {}, silent, {}));

    assert.equal(error, original);
  });
});

describe('raw header helpers', () => {
  const raw = Buffer.from(
    'Delivered-To: Sales@Helpdesk.example.com\r\nX-Original-To: sales@helpdesk.example.com, alias@helpdesk.example.com\r\n' +
      'To: "Support" <support@helpdesk.example.com>,\r\n\tother@example.org\r\nCc: undisclosed-recipients:;\r\nBcc: Hidden <hidden@example.net>\r\n\r\nTo: body@example.com\r\n',
    'latin1',
  );

  it('reads delivery addresses once', () => {
    assert.deepEqual(deliveredToAddresses(raw), ['sales@helpdesk.example.com', 'alias@helpdesk.example.com']);
  });

  it('reads folded header recipients', () => {
    assert.deepEqual(headerRecipients(raw), ['support@helpdesk.example.com', 'other@example.org', 'hidden@example.net']);
  });

  it('accepts envelope named in headers', () => {
    assert.doesNotThrow(() => checkEnvelopeAgainstHeaders('test', ['Other@Example.org', 'hidden@example.net'], raw));
  });

  it('rejects envelope recipient from the body', () => {
    assert.throws(() => checkEnvelopeAgainstHeaders('test', ['body@example.com'], raw), (error: unknown) => error instanceof MailqueueError && error.type === FailureType.PermanentDeliveryFailure);
  });
});
