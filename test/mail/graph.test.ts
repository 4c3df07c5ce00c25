import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';

import { pino } from 'pino';

import { FailureType } from '../../src/errors.js';
import { composeMail } from '../../src/mail/compose.js';
import { createGraphSource, createGraphTransport, type GraphSourceSettings } from '../../src/mail/graph.js';
import type { MailSource, SourceCursor } from '../../src/mail/mail-source.js';
import { CountingTokens, drain, failureOf, mimeMessage, recordingLogger, sampleBinaryMessage } from '../support/cloud-mail.js';
import { startFakeGraph, type FakeGraph } from '../support/fake-graph.js';
import { caseFile, noSharedData, sharedRoot } from './shared-data.js';

const silent = pino({ level: 'silent' });

describe('Graph source', () => {
  let fake: FakeGraph;
  let tokens: CountingTokens;

  beforeEach(async () => {
    fake = await startFakeGraph();
    tokens = new CountingTokens('graph-token');
  });

  afterEach(async () => {
    await fake.close();
  });

  const source = (overrides: Partial<GraphSourceSettings> = {}): MailSource =>
    createGraphSource({ apiBaseUrl: fake.baseUrl, mailbox: 'me', tokens, timeoutMs: 5000, retry: { baseWaitMs: 10 }, ...overrides }, silent);

  it('first sync follows next links', async () => {
    const ids = [1, 2, 3, 4, 5].map((n) => fake.addMessage(mimeMessage(`first sync ${n}`)));
    fake.addMessage(mimeMessage('filed elsewhere'), 'archive');

    const run = await drain(source(), null, 2);

    assert.deepEqual(run.listings.map((listing) => listing.more), [true, true, false]);
    assert.deepEqual(run.keys, ids.map((id) => `graph:${id}`));
    assert.match(String(run.cursor?.link), /\$deltatoken=/);
    const first = fake.requests[0];
    assert.equal(first?.path, '/v1.0/me/mailFolders/inbox/messages/delta');
    assert.equal(first?.query.get('$select'), 'id,internetMessageId,receivedDateTime');
    assert.match(first?.prefer ?? '', /odata\.maxpagesize=2/);
    assert.match(first?.prefer ?? '', /IdType="ImmutableId"/);
  });

  it('next sync lists only new mail', async () => {
    fake.addMessage(mimeMessage('old'));
    const first = await drain(source(), null, 10);

    const fresh = [fake.addMessage(mimeMessage('new 1')), fake.addMessage(mimeMessage('new 2'))];
    const second = await drain(source(), first.cursor, 10);

    assert.deepEqual(second.keys, fresh.map((id) => `graph:${id}`));
    assert.equal(second.listings[0]?.resynced, false);
  });

  it('skips removed entries', async () => {
    const inboxId = fake.addMessage(mimeMessage('kept'));
    const filed = fake.addMessage(mimeMessage('filed away'));
    const first = await drain(source(), null, 10);

    fake.moveMessage(filed, 'archive');
    const arrived = fake.addMessage(mimeMessage('arrived'));
    const second = await drain(source(), first.cursor, 10);

    assert.deepEqual(first.keys, [`graph:${inboxId}`, `graph:${filed}`]);
    assert.deepEqual(second.keys, [`graph:${arrived}`]);
  });

  it('expired delta link resyncs without duplicates', async () => {
    const stored = new Map<string, Buffer>();
    const graph = source();
    const storeAll = async (cursor: SourceCursor | null): Promise<{ cursor: SourceCursor | null; resynced: boolean[] }> => {
      const run = await drain(graph, cursor, 2, async (key) => {
        if (stored.has(key)) return;
        const downloaded = await graph.download({ key, size: null });
        assert.ok(downloaded);
        stored.set(key, downloaded.raw);
      });
      return { cursor: run.cursor, resynced: run.listings.map((listing) => listing.resynced) };
    };

    for (let n = 0; n < 3; n += 1) fake.addMessage(mimeMessage(`before expiry ${n}`));
    const first = await storeAll(null);
    fake.addMessage(mimeMessage('while the link was stale'));
    fake.expireDeltaLinks();

    const second = await storeAll(first.cursor);
    const lastId = fake.addMessage(mimeMessage('after the resync'));
    const third = await storeAll(second.cursor);

    assert.deepEqual(first.resynced, [false, false]);
    assert.deepEqual(second.resynced, [true, false]);
    assert.deepEqual(third.resynced, [false]);
    assert.equal(stored.size, 5);
    assert.ok(stored.has(`graph:${lastId}`));
    const downloads = fake.requests.filter((request) => request.path.endsWith('/$value'));
    assert.equal(downloads.length, 5, 'each message downloaded once');
  });

  it('resyncRequired code also resyncs', async () => {
    const id = fake.addMessage(mimeMessage('one'));
    const first = await drain(source(), null, 10);
    fake.expireDeltaLinks({ status: 400, code: 'resyncRequired' });

    const listing = await source().listNew(first.cursor, 10);

    assert.equal(listing.resynced, true);
    assert.deepEqual(listing.refs.map((ref) => ref.key), [`graph:${id}`]);
  });

  it('expired next link mid-round resyncs', async () => {
    for (let n = 0; n < 4; n += 1) fake.addMessage(mimeMessage(`paged ${n}`));
    const graph = source();
    const firstPage = await graph.listNew(null, 2);
    fake.expireDeltaLinks();

    const rest = await drain(graph, firstPage.cursorAfter, 2);

    assert.equal(rest.listings[0]?.resynced, true);
    assert.equal(new Set([...firstPage.refs.map((ref) => ref.key), ...rest.keys]).size, 4);
  });

  it('foreign link in cursor starts a new round', async () => {
    const id = fake.addMessage(mimeMessage('after a base URL change'));

    const listing = await source().listNew({ link: 'http://127.0.0.1:9/v1.0/me/mailFolders/inbox/messages/delta?$deltatoken=x', skip: 0 }, 10);

    assert.equal(listing.resynced, true);
    assert.deepEqual(listing.refs.map((ref) => ref.key), [`graph:${id}`]);
  });

  it('429 waits for Retry-After', async () => {
    const id = fake.addMessage(mimeMessage('throttled'));
    fake.failNext(1, 429, '1');

    const started = Date.now();
    const run = await drain(source(), null, 10);

    assert.ok(Date.now() - started >= 1000, 'waited the second Retry-After asked for');
    assert.deepEqual(run.keys, [`graph:${id}`]);
    assert.equal(fake.requests[0]?.status, 429);
    assert.equal(fake.requests[1]?.status, 200);
  });

  it('Retry-After above the bound fails at once', async () => {
    fake.failNext(1, 429, '600');

    const error = await failureOf(source({ retry: { maxWaitMs: 5000 } }).listNew(null, 10));

    assert.equal(error.type, FailureType.ConnectionFailed);
    assert.equal(error.details.retryAfterMs, 600_000);
    assert.equal(fake.requests.length, 1);
  });

  it('repeated 503 ends in ConnectionFailed', async () => {
    fake.failNext(5, 503);

    const error = await failureOf(source({ retry: { baseWaitMs: 5, maxAttempts: 4 } }).listNew(null, 10));

    assert.equal(error.type, FailureType.ConnectionFailed);
    assert.equal(error.details.status, 503);
    assert.equal(fake.requests.length, 4);
  });

  it('401 refreshes the token once', async () => {
    const id = fake.addMessage(mimeMessage('after refresh'));
    fake.requireToken('graph-token-2');

    const run = await drain(source(), null, 10);

    assert.equal(tokens.invalidations, 1);
    assert.deepEqual(run.keys, [`graph:${id}`]);
  });

  it('rejected refreshed token fails authentication', async () => {
    fake.requireToken('never issued');

    const error = await failureOf(source().listNew(null, 10));

    assert.equal(error.type, FailureType.AuthenticationFailed);
    assert.equal(tokens.invalidations, 1);
    assert.equal(fake.requests.length, 2);
    assert.ok(!error.message.includes('graph-token'), 'the token is not in the message');
  });

  it('stalled request times out', async () => {
    fake.stallNext(1);

    const error = await failureOf(source({ timeoutMs: 300 }).listNew(null, 10));

    assert.equal(error.type, FailureType.Timeout);
  });

  it('retries are logged without tokens', async () => {
    fake.addMessage(mimeMessage('logged'));
    fake.requireToken('graph-token-2');
    fake.failNext(1, 503, '0');
    const { logger, lines } = recordingLogger();

    await drain(createGraphSource({ apiBaseUrl: fake.baseUrl, mailbox: 'me', tokens, timeoutMs: 5000 }, logger), null, 10);

    assert.ok(lines.some((line) => line.includes('access token rejected')), 'the refresh is logged');
    assert.ok(lines.some((line) => line.includes('throttled or failing')), 'the wait is logged');
    assert.ok(lines.every((line) => !line.includes('graph-token')), 'no token in the log');
  });

  it('download keeps bytes exactly', async () => {
    const raw = sampleBinaryMessage('X-Original-To: sales@contoso.example\r\n');
    const id = fake.addMessage(raw);

    const downloaded = await source().download({ key: `graph:${id}`, size: null });

    assert.ok(downloaded);
    assert.ok(downloaded.raw.equals(raw), 'bytes differ');
    assert.deepEqual(downloaded.deliveredTo, ['sales@contoso.example']);
    assert.match(fake.requests[0]?.path ?? '', /\/messages\/AAkALg.*%2B.*%3D\/\$value$/);
  });

  it('vanished message downloads as null', async () => {
    const result = await source().download({ key: 'graph:AAkALgAAAAAAgone', size: null });

    assert.equal(result, null);
  });

  it('remove deletes and skips unknown keys', async () => {
    const id = fake.addMessage(mimeMessage('to be removed'));
    const first = await drain(source(), null, 10);

    await source().remove([`graph:${id}`, 'graph:AAkALgAAAAAAgone', 'gmail:not-ours']);
    const second = await drain(source(), first.cursor, 10);
    const fresh = await drain(source(), null, 10);

    const deletes = fake.requests.filter((request) => request.method === 'DELETE');
    assert.deepEqual(deletes.map((request) => request.status), [204, 404]);
    assert.deepEqual(second.keys, []);
    assert.deepEqual(fresh.keys, []);
  });

  it('tenant token reads by user principal', async () => {
    fake.setTokenKind('application');
    const id = fake.addMessage(mimeMessage('tenant mailbox'));

    const run = await drain(source({ mailbox: fake.principal }), null, 10);
    const viaMe = await failureOf(source({ mailbox: 'me' }).listNew(null, 10));
    const unknown = await failureOf(source({ mailbox: 'nobody@contoso.example' }).listNew(null, 10));

    assert.deepEqual(run.keys, [`graph:${id}`]);
    assert.equal(fake.requests[0]?.path, `/v1.0/users/${encodeURIComponent(fake.principal)}/mailFolders/inbox/messages/delta`);
    assert.equal(viaMe.type, FailureType.ProtocolError);
    assert.equal(unknown.type, FailureType.FolderNotFound);
    assert.match(unknown.message, /nobody@contoso\.example/);
  });

  it('case messages arrive once, byte-exact', { skip: sharedRoot === null ? noSharedData : false }, async () => {
    const expected = new Map<string, Buffer>();
    for (const caseId of readdirSync(join(sharedRoot ?? '', 'cases')).filter((name) => /^C\d+$/.test(name))) {
      for (const file of readdirSync(join(sharedRoot ?? '', 'cases', caseId)).filter((name) => name.endsWith('.eml'))) {
        const raw = caseFile(caseId, file);
        const folder = file.startsWith('out-') ? 'sentitems' : 'inbox';
        const id = fake.addMessage(raw, folder);
        if (folder === 'inbox') expected.set(`graph:${id}`, raw);
      }
    }
    const graph = source();

    const run = await drain(graph, null, 7);
    const fetched = new Map<string, Buffer>();
    for (const key of run.keys) {
      const downloaded = await graph.download({ key, size: null });
      assert.ok(downloaded, key);
      fetched.set(key, downloaded.raw);
    }

    assert.equal(run.keys.length, expected.size);
    for (const [key, raw] of expected) {
      assert.ok(fetched.get(key)?.equals(raw), `bytes of ${key} differ`);
    }
  });
});

describe('Graph transport', () => {
  let fake: FakeGraph;
  let tokens: CountingTokens;

  before(async () => {
    fake = await startFakeGraph();
    fake.allowSendAs('billing@contoso.example');
  });

  after(async () => {
    await fake.close();
  });

  beforeEach(() => {
    tokens = new CountingTokens('graph-send');
    fake.requireToken(null);
  });

  const transport = (mailbox = 'me') => createGraphTransport({ apiBaseUrl: fake.baseUrl, mailbox, tokens, timeoutMs: 5000, retry: { baseWaitMs: 5 } }, silent);

  it('send keeps bytes, threading and alias', async () => {
    const raw = await composeMail({
      messageId: 'reply-1@contoso.example',
      from: { name: 'Billing desk', address: 'billing@contoso.example' },
      to: [{ name: 'Felix Aurelio', address: 'felix.aurelio@example.net' }],
      replyTo: { address: 'billing-replies@contoso.example' },
      subject: 'Re: Refund for double charge [Ticket#100001]',
      text: 'Grüße, the refund is on its way.',
      inReplyTo: 'original-1@example.net',
      references: ['original-0@example.net', 'original-1@example.net'],
      date: new Date('2026-12-04T10:00:00Z'),
    });
    const earlier = fake.sent.length;

    const result = await transport().send({ from: 'billing@contoso.example', to: ['felix.aurelio@example.net'] }, raw);

    const received = fake.sent[earlier];
    assert.ok(received?.equals(raw), 'bytes differ');
    const head = received.toString('latin1');
    assert.match(head, /^From: Billing desk <billing@contoso\.example>\r$/m);
    assert.match(head, /^Message-ID: <reply-1@contoso\.example>\r$/m);
    assert.match(head, /^In-Reply-To: <original-1@example\.net>\r$/m);
    assert.match(head, /^References: <original-0@example\.net> <original-1@example\.net>\r$/m);
    assert.match(head, /^Reply-To: billing-replies@contoso\.example\r$/m);
    assert.deepEqual(result.accepted, ['felix.aurelio@example.net']);
    assert.match(result.response, /202/);
  });

  it('finds sent mail by Message-ID', async () => {
    const raw = mimeMessage('look me up', 'customer@example.net', fake.principal);
    const messageId = /^Message-ID: <([^>]+)>/m.exec(raw.toString('latin1'))?.[1] ?? '';
    const graph = transport();

    const earlier = await graph.findSent(messageId);
    await graph.send({ from: fake.principal, to: ['customer@example.net'] }, raw);
    const afterSend = await graph.findSent(messageId);

    assert.equal(earlier, false);
    assert.equal(afterSend, true);
    assert.equal(fake.requests.at(-1)?.query.get('$filter'), `internetMessageId eq '<${messageId}>'`);
  });

  it('tenant send uses the principal path', async () => {
    const earlier = fake.requests.length;

    await transport(fake.principal).send({ from: fake.principal, to: ['customer@example.net'] }, mimeMessage('tenant send', 'customer@example.net', fake.principal));

    assert.equal(fake.requests[earlier]?.path, `/v1.0/users/${encodeURIComponent(fake.principal)}/sendMail`);
    assert.equal(fake.requests[earlier]?.status, 202);
  });

  it('refused send-as is a permanent failure', async () => {
    const raw = Buffer.from('From: ceo@contoso.example\r\nTo: customer@example.net\r\nSubject: spoof\r\n\r\nbody\r\n', 'latin1');

    const error = await failureOf(transport().send({ from: 'ceo@contoso.example', to: ['customer@example.net'] }, raw));

    assert.equal(error.type, FailureType.PermanentDeliveryFailure);
    assert.equal(error.details.code, 'ErrorSendAsDenied');
  });

  it('rejects envelope-only recipient', async () => {
    const earlier = fake.requests.length;

    const error = await failureOf(transport().send({ from: 'support@contoso.example', to: ['customer@example.net', 'hidden@example.org'] }, mimeMessage('visible only', 'customer@example.net', fake.principal)));

    assert.equal(error.type, FailureType.PermanentDeliveryFailure);
    assert.match(error.message, /hidden@example\.org/);
    assert.equal(fake.requests.length, earlier);
  });

  it('400 is a permanent failure', async () => {
    const noRecipients = Buffer.from('From: support@contoso.example\r\nSubject: nobody\r\n\r\nbody\r\n', 'latin1');

    const error = await failureOf(transport().send({ from: 'support@contoso.example', to: [] }, noRecipients));

    assert.equal(error.type, FailureType.PermanentDeliveryFailure);
    assert.equal(error.details.status, 400);
  });

  it('repeated 429 is a temporary failure', async () => {
    fake.failNext(3, 429, '0');
    const earlier = fake.sent.length;

    const error = await failureOf(transport().send({ from: 'support@contoso.example', to: ['customer@example.net'] }, mimeMessage('throttled', 'customer@example.net', fake.principal)));

    assert.equal(error.type, FailureType.TemporaryDeliveryFailure);
    assert.equal(fake.sent.length, earlier);
  });

  it('401 on send refreshes the token', async () => {
    fake.requireToken('graph-send-2');
    const earlier = fake.sent.length;

    await transport().send({ from: 'support@contoso.example', to: ['customer@example.net'] }, mimeMessage('refreshed', 'customer@example.net', fake.principal));

    assert.equal(tokens.invalidations, 1);
    assert.equal(fake.sent.length, earlier + 1);
  });
});
