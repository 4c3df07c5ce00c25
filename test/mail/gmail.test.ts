import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';

import { pino } from 'pino';

import { FailureType, MailqueueError } from '../../src/errors.js';
import { composeMail } from '../../src/mail/compose.js';
import { createGmailSource, createGmailTransport, type GmailSourceSettings } from '../../src/mail/gmail.js';
import type { MailSource, SourceCursor } from '../../src/mail/mail-source.js';
import { startFakeGmail, type FakeGmail } from '../support/fake-gmail.js';
import { CountingTokens, drain, failureOf, mimeMessage, recordingLogger, sampleBinaryMessage } from '../support/cloud-mail.js';
import { caseFile, noSharedData, sharedRoot } from './shared-data.js';

const silent = pino({ level: 'silent' });

describe('Gmail source', () => {
  let fake: FakeGmail;
  let tokens: CountingTokens;

  beforeEach(async () => {
    fake = await startFakeGmail();
    tokens = new CountingTokens('gmail-token');
  });

  afterEach(async () => {
    await fake.close();
  });

  const source = (overrides: Partial<GmailSourceSettings> = {}): MailSource =>
    createGmailSource({ apiBaseUrl: fake.rootUrl, tokens, timeoutMs: 5000, retry: { baseWaitMs: 10 }, ...overrides }, silent);

  it('first sync pages through the inbox', async () => {
    const ids = [1, 2, 3, 4, 5].map((n) => fake.addMessage(mimeMessage(`first sync ${n}`)));
    fake.addMessage(mimeMessage('a sent one'), ['SENT']);

    const run = await drain(source(), null, 2);

    assert.deepEqual(run.listings.map((listing) => listing.more), [true, true, false]);
    assert.deepEqual([...run.keys].sort(), ids.map((id) => `gmail:${id}`).sort());
    assert.equal(run.keys.length, 5);
    assert.equal(run.cursor?.phase, 'incremental');
  });

  it('next sync lists only new mail', async () => {
    fake.addMessage(mimeMessage('old'));
    const first = await drain(source(), null, 10);

    const fresh = [fake.addMessage(mimeMessage('new 1')), fake.addMessage(mimeMessage('new 2'))];
    const second = await drain(source(), first.cursor, 10);

    assert.deepEqual(second.keys, fresh.map((id) => `gmail:${id}`));
    assert.equal(second.listings[0]?.resynced, false);
    const historyCall = fake.requests.find((request) => request.path.endsWith('/history'));
    assert.equal(historyCall?.query.get('labelId'), 'INBOX');
    assert.deepEqual(historyCall?.query.getAll('historyTypes'), ['messageAdded', 'labelAdded']);
  });

  it('keeps mail arriving during first sync', async () => {
    for (let n = 0; n < 4; n += 1) fake.addMessage(mimeMessage(`before ${n}`));
    const gmail = source();

    const firstPage = await gmail.listNew(null, 2);
    const lateId = fake.addMessage(mimeMessage('arrived during the first sync'));
    const rest = await drain(gmail, firstPage.cursorAfter, 2);
    const later = await drain(gmail, rest.cursor, 2);

    const all = [...firstPage.refs.map((ref) => ref.key), ...rest.keys, ...later.keys];
    assert.ok(all.includes(`gmail:${lateId}`), 'the message added during the listing is fetched by history');
    assert.equal(new Set(all).size, 5);
  });

  it('stale page token restarts the listing', async () => {
    for (let n = 0; n < 4; n += 1) fake.addMessage(mimeMessage(`paged ${n}`));
    const gmail = source();
    const firstPage = await gmail.listNew(null, 2);
    fake.expirePageTokens();

    const rest = await drain(gmail, firstPage.cursorAfter, 2);

    assert.equal(rest.listings[0]?.resynced, true);
    assert.equal(new Set([...firstPage.refs.map((ref) => ref.key), ...rest.keys]).size, 4);
  });

  it('expired history id resyncs without duplicates', async () => {
    const stored = new Map<string, Buffer>();
    const gmail = source();
    const storeAll = async (cursor: SourceCursor | null): Promise<{ cursor: SourceCursor | null; resynced: boolean[] }> => {
      const run = await drain(gmail, cursor, 2, async (key) => {
        if (stored.has(key)) return;
        const downloaded = await gmail.download({ key, size: null });
        assert.ok(downloaded);
        stored.set(key, downloaded.raw);
      });
      return { cursor: run.cursor, resynced: run.listings.map((listing) => listing.resynced) };
    };

    for (let n = 0; n < 3; n += 1) fake.addMessage(mimeMessage(`before expiry ${n}`));
    const first = await storeAll(null);
    fake.addMessage(mimeMessage('while the cursor was stale 1'));
    fake.addMessage(mimeMessage('while the cursor was stale 2'));
    fake.expireHistory();

    const second = await storeAll(first.cursor);
    const lastId = fake.addMessage(mimeMessage('after the resync'));
    const third = await storeAll(second.cursor);

    assert.deepEqual(first.resynced, [false, false]);
    assert.equal(second.resynced[0], true);
    assert.ok(second.resynced.slice(1).every((flag) => !flag));
    assert.deepEqual(third.resynced, [false]);
    assert.equal(stored.size, 6);
    assert.ok(stored.has(`gmail:${lastId}`));
    const downloads = fake.requests.filter((request) => /\/messages\/[0-9a-f]+$/.test(request.path));
    assert.equal(downloads.length, 6, 'each message downloaded once');
  });

  it('lists a multi-label message once', async () => {
    const early = fake.addMessage(mimeMessage('labelled early'), ['INBOX', 'IMPORTANT', 'Label_7']);
    const first = await drain(source(), null, 10);

    const late = fake.addMessage(mimeMessage('labelled late'), ['INBOX', 'CATEGORY_PERSONAL']);
    fake.addLabels(late, ['Label_7']);
    fake.addLabels(early, ['STARRED']);
    const second = await drain(source(), first.cursor, 10);

    assert.deepEqual(first.keys, [`gmail:${early}`]);
    assert.deepEqual(second.keys, [`gmail:${late}`]);
  });

  it('lists mail moved back from spam', async () => {
    const first = await drain(source(), null, 10);
    const spam = fake.addMessage(mimeMessage('wrongly flagged'), ['SPAM']);
    const between = await drain(source(), first.cursor, 10);

    fake.addLabels(spam, ['INBOX']);
    const afterMove = await drain(source(), between.cursor, 10);

    assert.deepEqual(between.keys, []);
    assert.deepEqual(afterMove.keys, [`gmail:${spam}`]);
  });

  it('lists a configured custom label', async () => {
    fake.addMessage(mimeMessage('inbox only'));
    const labelled = fake.addMessage(mimeMessage('billing label'), ['INBOX', 'Label_billing']);

    const run = await drain(source({ labelId: 'Label_billing' }), null, 10);

    assert.deepEqual(run.keys, [`gmail:${labelled}`]);
  });

  it('unknown label is FolderNotFound', async () => {
    const error = await failureOf(source({ labelId: 'Billing' }).listNew(null, 10));

    assert.equal(error.type, FailureType.FolderNotFound);
    assert.match(error.message, /label Billing/);
  });

  it('429 waits for Retry-After', async () => {
    const id = fake.addMessage(mimeMessage('throttled'));
    fake.failNext(1, 429, '1');

    const started = Date.now();
    const run = await drain(source(), null, 10);

    assert.ok(Date.now() - started >= 1000, 'waited the second Retry-After asked for');
    assert.deepEqual(run.keys, [`gmail:${id}`]);
    assert.equal(fake.requests[0]?.status, 429);
    assert.equal(fake.requests[1]?.path, fake.requests[0]?.path);
  });

  it('Retry-After above the bound fails at once', async () => {
    fake.failNext(1, 429, '3600');

    const error = await failureOf(source().listNew(null, 10));

    assert.equal(error.type, FailureType.ConnectionFailed);
    assert.equal(error.details.retryAfterMs, 3_600_000);
    assert.equal(fake.requests.length, 1, 'no second attempt within the activity');
  });

  it('repeated 500 ends in ConnectionFailed', async () => {
    fake.failNext(5, 500);

    const error = await failureOf(source({ retry: { baseWaitMs: 5, maxAttempts: 3 } }).listNew(null, 10));

    assert.equal(error.type, FailureType.ConnectionFailed);
    assert.equal(error.details.status, 500);
    assert.equal(fake.requests.length, 3);
  });

  it('401 refreshes the token once', async () => {
    const id = fake.addMessage(mimeMessage('after refresh'));
    fake.requireToken('gmail-token-2');

    const run = await drain(source(), null, 10);

    assert.equal(tokens.invalidations, 1);
    assert.deepEqual(run.keys, [`gmail:${id}`]);
    assert.equal(fake.requests[0]?.status, 401);
  });

  it('rejected refreshed token fails authentication', async () => {
    fake.requireToken('a token the provider never issues');

    const error = await failureOf(source().listNew(null, 10));

    assert.equal(error.type, FailureType.AuthenticationFailed);
    assert.equal(tokens.invalidations, 1);
    assert.equal(fake.requests.length, 2);
    assert.ok(!error.message.includes('gmail-token'), 'the token is not in the message');
  });

  it('stalled request times out', async () => {
    fake.stallNext(1);

    const error = await failureOf(source({ timeoutMs: 300 }).listNew(null, 10));

    assert.equal(error.type, FailureType.Timeout);
  });

  it('retries are logged without tokens', async () => {
    fake.addMessage(mimeMessage('logged'));
    fake.requireToken('gmail-token-2');
    fake.failNext(1, 503, '0');
    const { logger, lines } = recordingLogger();

    await drain(createGmailSource({ apiBaseUrl: fake.rootUrl, tokens, timeoutMs: 5000 }, logger), null, 10);

    assert.ok(lines.some((line) => line.includes('access token rejected')), 'the refresh is logged');
    assert.ok(lines.some((line) => line.includes('throttled or failing')), 'the wait is logged');
    assert.ok(lines.every((line) => !line.includes('gmail-token')), 'no token in the log');
  });

  it('download keeps bytes and Delivered-To', async () => {
    const raw = sampleBinaryMessage('Delivered-To: sales@helpdesk.example.com\r\n');
    const id = fake.addMessage(raw);

    const downloaded = await source().download({ key: `gmail:${id}`, size: null });

    assert.ok(downloaded);
    assert.ok(downloaded.raw.equals(raw), 'bytes differ');
    assert.deepEqual(downloaded.deliveredTo, ['sales@helpdesk.example.com']);
  });

  it('vanished message downloads as null', async () => {
    const result = await source().download({ key: 'gmail:18c00000000000ff', size: null });

    assert.equal(result, null);
  });

  it('remove trashes and skips unknown keys', async () => {
    const id = fake.addMessage(mimeMessage('to be removed'));

    await source().remove([`gmail:${id}`, 'gmail:18c00000000000ff', 'pop3:not-ours']);
    const run = await drain(source(), null, 10);

    assert.deepEqual(fake.trashed, [id]);
    assert.deepEqual(run.keys, []);
  });

  it('address works as userId', async () => {
    const id = fake.addMessage(mimeMessage('by address'));

    const run = await drain(source({ userId: fake.emailAddress }), null, 10);
    const denied = await failureOf(source({ userId: 'someone-else@example.org' }).listNew(null, 10));

    assert.deepEqual(run.keys, [`gmail:${id}`]);
    assert.equal(denied.type, FailureType.AuthenticationFailed);
  });

  it('foreign cursor starts a full sync', async () => {
    const id = fake.addMessage(mimeMessage('after a protocol change'));

    const listing = await source().listNew({ folder: 'INBOX', uidValidity: '7', lastUid: 40 }, 10);

    assert.deepEqual(listing.refs.map((ref) => ref.key), [`gmail:${id}`]);
    assert.equal(listing.resynced, true);
  });

  it('case messages arrive once, byte-exact', { skip: sharedRoot === null ? noSharedData : false }, async () => {
    const expected = new Map<string, Buffer>();
    for (const caseId of readdirSync(join(sharedRoot ?? '', 'cases')).filter((name) => /^C\d+$/.test(name))) {
      for (const file of readdirSync(join(sharedRoot ?? '', 'cases', caseId)).filter((name) => name.endsWith('.eml'))) {
        const raw = caseFile(caseId, file);
        const labels = file.startsWith('out-') ? ['SENT'] : ['INBOX', 'Label_cases'];
        const id = fake.addMessage(raw, labels);
        if (!file.startsWith('out-')) expected.set(`gmail:${id}`, raw);
      }
    }
    const gmail = source();

    const run = await drain(gmail, null, 7);
    const fetched = new Map<string, Buffer>();
    for (const key of run.keys) {
      const downloaded = await gmail.download({ key, size: null });
      assert.ok(downloaded, key);
      fetched.set(key, downloaded.raw);
    }

    assert.equal(run.keys.length, expected.size);
    for (const [key, raw] of expected) {
      assert.ok(fetched.get(key)?.equals(raw), `bytes of ${key} differ`);
    }
  });
});

describe('Gmail transport', () => {
  let fake: FakeGmail;
  let tokens: CountingTokens;

  before(async () => {
    fake = await startFakeGmail();
  });

  after(async () => {
    await fake.close();
  });

  beforeEach(() => {
    tokens = new CountingTokens('gmail-send');
    fake.requireToken(null);
  });

  const transport = () => createGmailTransport({ apiBaseUrl: fake.rootUrl, tokens, timeoutMs: 5000, retry: { baseWaitMs: 5 } }, silent);

  it('send keeps bytes, threading and alias', async () => {
    const raw = await composeMail({
      messageId: 'reply-1@helpdesk.example.com',
      from: { name: 'Billing desk', address: 'billing@helpdesk.example.com' },
      to: [{ name: 'Felix Aurelio', address: 'felix.aurelio@example.net' }],
      replyTo: { address: 'billing-replies@helpdesk.example.com' },
      subject: 'Re: Refund for double charge [Ticket#100001]',
      text: 'Grüße, the refund is on its way.',
      inReplyTo: 'original-1@example.net',
      references: ['original-0@example.net', 'original-1@example.net'],
      date: new Date('2026-12-04T10:00:00Z'),
    });
    const earlier = fake.sent.length;

    const result = await transport().send({ from: 'billing@helpdesk.example.com', to: ['felix.aurelio@example.net'] }, raw);

    const received = fake.sent[earlier];
    assert.ok(received?.raw.equals(raw), 'bytes differ');
    const head = received.raw.toString('latin1');
    assert.match(head, /^From: Billing desk <billing@helpdesk\.example\.com>\r$/m);
    assert.match(head, /^In-Reply-To: <original-1@example\.net>\r$/m);
    assert.match(head, /^References: <original-0@example\.net> <original-1@example\.net>\r$/m);
    assert.match(head, /^Reply-To: billing-replies@helpdesk\.example\.com\r$/m);
    assert.deepEqual(result.accepted, ['felix.aurelio@example.net']);
    assert.match(result.response, new RegExp(received.id));
  });

  it('finds sent mail by Message-ID', async () => {
    const raw = mimeMessage('look me up', 'customer@example.net', 'Support <support@helpdesk.example.com>');
    const messageId = /^Message-ID: <([^>]+)>/m.exec(raw.toString('latin1'))?.[1] ?? '';
    const gmail = transport();

    const earlier = await gmail.findSent(messageId);
    await gmail.send({ from: 'support@helpdesk.example.com', to: ['customer@example.net'] }, raw);
    const afterSend = await gmail.findSent(`<${messageId}>`);

    assert.equal(earlier, false);
    assert.equal(afterSend, true);
    assert.equal(fake.requests.at(-1)?.query.get('q'), `rfc822msgid:${messageId}`);
  });

  it('rejects envelope-only recipient', async () => {
    const earlier = fake.requests.length;

    const error = await failureOf(transport().send({ from: 'support@helpdesk.example.com', to: ['customer@example.net', 'hidden@example.org'] }, mimeMessage('visible only', 'customer@example.net')));

    assert.equal(error.type, FailureType.PermanentDeliveryFailure);
    assert.match(error.message, /hidden@example\.org/);
    assert.equal(fake.requests.length, earlier, 'nothing reached the API');
  });

  it('400 is a permanent failure', async () => {
    const noRecipients = Buffer.from('From: support@helpdesk.example.com\r\nSubject: nobody\r\n\r\nbody\r\n', 'latin1');

    const error = await failureOf(transport().send({ from: 'support@helpdesk.example.com', to: [] }, noRecipients));

    assert.equal(error.type, FailureType.PermanentDeliveryFailure);
    assert.equal(error.details.status, 400);
  });

  it('repeated 503 is a temporary failure', async () => {
    fake.failNext(3, 503);
    const earlier = fake.sent.length;

    const error = await failureOf(transport().send({ from: 'support@helpdesk.example.com', to: ['customer@example.net'] }, mimeMessage('unavailable', 'customer@example.net')));

    assert.equal(error.type, FailureType.TemporaryDeliveryFailure);
    assert.equal(fake.sent.length, earlier);
  });

  it('401 on send refreshes the token', async () => {
    fake.requireToken('gmail-send-2');
    const earlier = fake.sent.length;

    await transport().send({ from: 'support@helpdesk.example.com', to: ['customer@example.net'] }, mimeMessage('refreshed', 'customer@example.net'));

    assert.equal(tokens.invalidations, 1);
    assert.equal(fake.sent.length, earlier + 1);
  });

  it('rejected tokens fail send authentication', async () => {
    fake.requireToken('never issued');

    const error = await failureOf(transport().send({ from: 'support@helpdesk.example.com', to: ['customer@example.net'] }, mimeMessage('rejected', 'customer@example.net')));

    assert.ok(error instanceof MailqueueError);
    assert.equal(error.type, FailureType.AuthenticationFailed);
  });
});
