import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { simpleParser, type AddressObject } from 'mailparser';
import { pino } from 'pino';

import { FailureType, MailqueueError } from '../../src/errors.js';
import { composeMail, trimReferences, type OutgoingMail } from '../../src/mail/compose.js';
import { sendRawMail } from '../../src/mail/smtp.js';
import { startCaptureSmtpServer } from '../support/smtp-capture.js';

const injection = '\r\nBcc: x@example.com';

function mailWith(overrides: Partial<OutgoingMail> = {}): OutgoingMail {
  return {
    messageId: 'reply-1@mailqueue.example.test',
    from: { name: 'Support', address: 'support@example.test' },
    to: [{ name: 'Customer', address: 'customer@example.test' }],
    subject: 'Re: your request',
    text: 'Thank you for your mail.\n\nWe answer within one day.\n',
    date: new Date('2026-03-01T10:15:00Z'),
    ...overrides,
  };
}

/** Returns the header block of a raw message with folded lines joined (RFC 5322 unfolding). */
function unfoldedHeaderBlock(raw: Buffer): string {
  const end = raw.indexOf('\r\n\r\n');
  assert.ok(end > 0, 'raw message has no header/body separator');
  return raw.subarray(0, end).toString('latin1').replace(/\r\n(?=[ \t])/g, '');
}

/** Splits the whole raw message into lines, MIME part headers included. */
function rawLines(raw: Buffer): string[] {
  return raw.toString('latin1').split('\r\n');
}

function firstAddress(field: AddressObject | AddressObject[] | undefined): { name: string; address?: string } | undefined {
  const object = Array.isArray(field) ? field[0] : field;
  return object?.value[0];
}

describe('composeMail', () => {
  it('non-ASCII display name decodes exactly', async () => {
    const name = 'Zoë Ångström – Kundenservice';
    const parsed = await simpleParser(await composeMail(mailWith({ from: { name, address: 'support@example.test' } })));

    assert.equal(firstAddress(parsed.from)?.name, name);
  });

  it('non-ASCII subject decodes exactly', async () => {
    const subject = 'Re: Grüße aus Köln – 日本語のお問い合わせ #42';
    const parsed = await simpleParser(await composeMail(mailWith({ subject })));

    assert.equal(parsed.subject, subject);
  });

  it('non-ASCII headers are RFC 2047 encoded', async () => {
    const raw = await composeMail(mailWith({ subject: 'Grüße', from: { name: 'Zoë', address: 'support@example.test' } }));
    const headers = unfoldedHeaderBlock(raw);

    assert.match(headers, /^Subject: =\?UTF-8\?[QB]\?/m);
    assert.match(headers, /^From: =\?UTF-8\?[QB]\?.*\?= <support@example\.test>$/m);
    assert.ok([...raw.subarray(0, raw.indexOf('\r\n\r\n'))].every((byte) => byte < 0x80), 'header block contains non-ASCII bytes');
  });

  it('subject injection stays in Subject', async () => {
    const raw = await composeMail(mailWith({ subject: `Hello${injection}` }));
    const parsed = await simpleParser(raw);

    assert.equal(parsed.subject, 'Hello Bcc: x@example.com');
    assert.equal(parsed.headers.has('bcc'), false);
    assert.ok(!rawLines(raw).some((line) => /^bcc:/i.test(line)), 'raw message has a Bcc line');
  });

  it('display name injection stays in From', async () => {
    const raw = await composeMail(mailWith({ from: { name: `Eve${injection}`, address: 'support@example.test' } }));
    const parsed = await simpleParser(raw);

    assert.equal(parsed.headers.has('bcc'), false);
    assert.equal(firstAddress(parsed.from)?.address, 'support@example.test');
    assert.ok(!rawLines(raw).some((line) => /^bcc:/i.test(line)), 'raw message has a Bcc line');
  });

  it('custom header injection stays in header', async () => {
    const raw = await composeMail(mailWith({ headers: { 'X-Mailqueue-Ticket': `42${injection}` } }));
    const parsed = await simpleParser(raw);

    assert.equal(parsed.headers.get('x-mailqueue-ticket'), '42 Bcc: x@example.com');
    assert.equal(parsed.headers.has('bcc'), false);
    assert.ok(!rawLines(raw).some((line) => /^bcc:/i.test(line)), 'raw message has a Bcc line');
  });

  it('attachment filename injection stays in part', async () => {
    const raw = await composeMail(
      mailWith({ attachments: [{ filename: `report.txt${injection}`, contentType: 'text/plain', content: Buffer.from('report') }] }),
    );
    const parsed = await simpleParser(raw);

    assert.equal(parsed.attachments[0]?.filename, 'report.txt Bcc: x@example.com');
    assert.ok(!rawLines(raw).some((line) => /^bcc:/i.test(line)), 'raw message has a Bcc line');
  });

  it('invalid custom header name is rejected', async () => {
    await assert.rejects(
      composeMail(mailWith({ headers: { 'X-Bad\r\nBcc': 'x@example.com' } })),
      (error: unknown) => error instanceof MailqueueError && error.type === FailureType.InvalidConfiguration,
    );
  });

  it('In-Reply-To gets angle brackets', async () => {
    const raw = await composeMail(mailWith({ inReplyTo: 'parent@example.test' }));

    assert.match(unfoldedHeaderBlock(raw), /^In-Reply-To: <parent@example\.test>$/m);
  });

  it('References get angle brackets', async () => {
    const raw = await composeMail(mailWith({ references: ['root@example.test', '<middle@example.test>', 'parent@example.test'] }));

    assert.match(unfoldedHeaderBlock(raw), /^References: <root@example\.test> <middle@example\.test> <parent@example\.test>$/m);
  });

  it('long References keep root and newest', async () => {
    const ids = Array.from({ length: 30 }, (_, index) => `m${index}@example.test`);
    const parsed = await simpleParser(await composeMail(mailWith({ references: ids })));
    const references = [parsed.references ?? []].flat();

    assert.equal(references.length, 20);
    assert.equal(references[0], '<m0@example.test>');
    assert.equal(references[19], '<m29@example.test>');
  });

  it('Message-ID and Date are emitted', async () => {
    const mail = mailWith();
    const parsed = await simpleParser(await composeMail(mail));

    assert.equal(parsed.messageId, `<${mail.messageId}>`);
    assert.equal(parsed.date?.getTime(), mail.date.getTime());
  });

  it('custom headers are present', async () => {
    const raw = await composeMail(
      mailWith({ headers: { 'Auto-Submitted': 'auto-replied', 'X-Auto-Response-Suppress': 'All', 'X-Mailqueue-Ticket': '42' } }),
    );
    const headers = unfoldedHeaderBlock(raw);

    assert.match(headers, /^Auto-Submitted: auto-replied$/m);
    assert.match(headers, /^X-Auto-Response-Suppress: All$/m);
    assert.match(headers, /^X-Mailqueue-Ticket: 42$/m);
  });

  it('text, html and attachment round-trip', async () => {
    const image = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff]);
    const parsed = await simpleParser(
      await composeMail(
        mailWith({
          text: 'Grüße\n',
          html: '<p>Grüße <img src="cid:logo@example.test"></p>',
          attachments: [{ filename: 'logo.png', contentType: 'image/png', content: image, contentId: 'logo@example.test' }],
        }),
      ),
    );

    assert.equal(parsed.text, 'Grüße\n');
    // mailparser inlines a resolved cid: reference as a data: URL.
    assert.match(String(parsed.html), /<p>Grüße <img src="data:image\/png;base64,/);
    assert.ok(parsed.attachments[0]?.content.equals(image), 'attachment bytes differ');
    assert.equal(parsed.attachments[0]?.cid, 'logo@example.test');
  });

  it('lines end with CRLF only', async () => {
    const raw = (await composeMail(mailWith({ text: 'one\ntwo\r\nthree\n' }))).toString('latin1');

    assert.equal(/(?<!\r)\n/.test(raw), false);
  });

  it('composed mail survives SMTP delivery', async () => {
    const server = await startCaptureSmtpServer({ mode: 'plain' });
    try {
      const mail = mailWith({ subject: 'Re: Grüße – Ticket 42', headers: { 'Auto-Submitted': 'auto-replied' } });
      const raw = await composeMail(mail);
      await sendRawMail(
        { host: server.host, port: server.port, user: null, password: null, sslTrusted: true, security: 'none', timeoutMs: 5000 },
        { from: mail.from.address, to: mail.to.map((recipient) => recipient.address) },
        raw,
        pino({ level: 'silent' }),
      );
      const [captured] = await server.waitForMessages(1);
      const parsed = await simpleParser(captured.raw);

      assert.ok(captured.raw.equals(raw), 'received bytes differ from composed bytes');
      assert.equal(parsed.subject, mail.subject);
      assert.equal(parsed.headers.get('auto-submitted'), 'auto-replied');
    } finally {
      await server.close();
    }
  });
});

describe('trimReferences', () => {
  it('short list is unchanged', () => {
    assert.deepEqual(trimReferences(['a', 'b', 'c'], 3), ['a', 'b', 'c']);
  });

  it('keeps root and newest ids', () => {
    assert.deepEqual(trimReferences(['a', 'b', 'c', 'd', 'e'], 3), ['a', 'd', 'e']);
  });

  it('limit one keeps only root', () => {
    assert.deepEqual(trimReferences(['a', 'b', 'c'], 1), ['a']);
  });

  it('default limit is twenty', () => {
    assert.equal(trimReferences(Array.from({ length: 25 }, (_, index) => `m${index}`)).length, 20);
  });

  it('zero limit is rejected', () => {
    assert.throws(() => trimReferences(['a'], 0), RangeError);
  });
});
