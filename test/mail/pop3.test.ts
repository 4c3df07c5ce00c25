import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { FailureType, MailqueueError } from '../../src/errors.js';
import type { ImapConnectionSettings } from '../../src/mail/incoming.js';
import { createPop3Source, Pop3Client, unstuffDots, type Pop3ConnectionSettings } from '../../src/mail/pop3.js';
import { startTestDovecot, testLogger, type TestMailServer } from '../support/environment.js';
import { appendMessages } from '../support/imap-admin.js';

const mailbox = { user: 'pop@example.com', password: 'pop-secret-1' };

/** A message with a line that starts with a dot, a lone dot line and 8-bit bytes, all needing exact transfer. */
const tricky = Buffer.concat([
  Buffer.from('From: a@example.net\r\nTo: pop@example.com\r\nSubject: dots\r\nMessage-ID: <dots@example.net>\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n.leading dot\r\n.\r\n..two dots\r\n'),
  Buffer.from([0xe9, 0xe8, 0x0d, 0x0a]),
]);

describe('unstuffDots', () => {
  test('removes one leading dot per line', () => {
    assert.equal(unstuffDots(Buffer.from('..a\r\nb.\r\n...\r\n')).toString(), '.a\r\nb.\r\n..\r\n');
  });

  test('leaves an empty body empty', () => {
    assert.equal(unstuffDots(Buffer.alloc(0)).length, 0);
  });
});

describe('POP3 against Dovecot', () => {
  let server: TestMailServer;
  let plain: Pop3ConnectionSettings;
  let secure: Pop3ConnectionSettings;

  before(async () => {
    server = await startTestDovecot([mailbox], { pop3: true, tls: true });
    const { dovecot } = server;
    assert.ok(dovecot.pop3Port !== null);
    assert.ok(dovecot.pop3sPort !== null);
    assert.ok(dovecot.certificatePem !== null);
    plain = { host: dovecot.host, port: dovecot.pop3Port, ...mailbox, ssl: false, sslTrusted: true, ca: dovecot.certificatePem, timeoutMs: 10_000 };
    secure = { ...plain, port: dovecot.pop3sPort, ssl: true };
    const imap: ImapConnectionSettings = { host: dovecot.host, port: dovecot.imapPort, ...mailbox, ssl: false, sslTrusted: false };
    await appendMessages(imap, 'INBOX', [tricky, Buffer.from('From: b@example.net\r\nSubject: second\r\nMessage-ID: <second@example.net>\r\n\r\nbody\r\n')]);
  });

  after(async () => {
    await server?.stop();
  });

  for (const variant of ['plain with STLS', 'implicit TLS'] as const) {
    test(`lists and downloads exactly over ${variant}`, async () => {
      const source = createPop3Source(variant === 'implicit TLS' ? secure : plain, testLogger);
      try {
        const listing = await source.listNew(null, 10);

        assert.equal(listing.refs.length, 2);
        assert.ok(listing.refs.every((ref) => ref.key.startsWith('pop3:') && ref.size !== null && ref.size > 0));
        assert.equal(new Set(listing.refs.map((ref) => ref.key)).size, 2);
        const first = await source.download(listing.refs[0]);
        assert.ok(first);
        assert.ok(first.raw.equals(tricky), `raw differs: ${JSON.stringify(first.raw.toString('latin1'))}`);
        assert.equal(first.raw.length, listing.refs[0].size);
      } finally {
        await source.close();
      }
    });
  }

  test('keys stay stable across sessions', async () => {
    const keysOf = async (): Promise<string[]> => {
      const source = createPop3Source(plain, testLogger);
      try {
        return (await source.listNew(null, 10)).refs.map((ref) => ref.key);
      } finally {
        await source.close();
      }
    };

    assert.deepEqual(await keysOf(), await keysOf());
  });

  test('wrong password fails authentication', async () => {
    await assert.rejects(Pop3Client.connect({ ...plain, password: 'wrong-password-9' }, testLogger), (error: unknown) => {
      assert.ok(error instanceof MailqueueError);
      assert.equal(error.type, FailureType.AuthenticationFailed);
      assert.ok(!error.message.includes('wrong-password-9'));
      return true;
    });
  });

  test('unverified certificate is rejected', async () => {
    await assert.rejects(Pop3Client.connect({ ...secure, ca: undefined }, testLogger), (error: unknown) => error instanceof MailqueueError && error.type === FailureType.CertificateRejected);
  });

  test('delete without QUIT keeps the message', async () => {
    const source = createPop3Source(plain, testLogger);
    const listing = await source.listNew(null, 10);
    await source.remove([listing.refs[1].key]);
    source.abandon();

    const again = createPop3Source(plain, testLogger);
    try {
      assert.equal((await again.listNew(null, 10)).refs.length, 2);
    } finally {
      await again.close();
    }
  });
});
