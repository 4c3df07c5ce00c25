import assert from 'node:assert/strict';
import { Writable } from 'node:stream';

import { pino, type Logger } from 'pino';

import { MailqueueError } from '../../src/errors.js';
import type { AccessTokenProvider } from '../../src/mail/access-token.js';
import type { MailSource, SourceCursor, SourceListing } from '../../src/mail/mail-source.js';

/**
 * A token provider for adapter tests: hands out `<prefix>-1`, and after each `invalidate()`
 * the next number, as a refresh would. The real providers live with the OAuth2 code.
 */
export class CountingTokens implements AccessTokenProvider {
  invalidations = 0;
  requests = 0;

  constructor(private readonly prefix: string) {}

  async getAccessToken(): Promise<string> {
    this.requests += 1;
    return `${this.prefix}-${this.invalidations + 1}`;
  }

  invalidate(): void {
    this.invalidations += 1;
  }
}

/** Creates a debug-level pino logger that writes its JSON lines into `lines`. */
export function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** Awaits a promise that must reject with a MailqueueError and returns that error. */
export async function failureOf(promise: Promise<unknown>): Promise<MailqueueError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof MailqueueError, `expected a MailqueueError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the promise to reject');
}

/**
 * Calls `listNew` until `more` is false, as the fetch activity does, moving the cursor after
 * each page once `onKey` has handled every ref of it.
 */
export async function drain(
  source: MailSource,
  cursor: SourceCursor | null,
  maxItems: number,
  onKey: (key: string) => Promise<void> = async () => {},
): Promise<{ listings: SourceListing[]; keys: string[]; cursor: SourceCursor | null }> {
  const listings: SourceListing[] = [];
  const keys: string[] = [];
  let current = cursor;

  for (let page = 0; page < 200; page += 1) {
    const listing = await source.listNew(current, maxItems);
    listings.push(listing);
    assert.ok(listing.refs.length <= maxItems, `a page holds ${listing.refs.length} refs, more than ${maxItems}`);
    for (const ref of listing.refs) {
      keys.push(ref.key);
      await onKey(ref.key);
    }
    current = listing.cursorAfter ?? current;
    if (!listing.more) {
      return { listings, keys, cursor: current };
    }
  }
  assert.fail('the source never stopped paging');
}

let messageCounter = 0;

/** Builds a small plain-text message with a unique Message-ID. */
export function mimeMessage(subject: string, to = 'support@helpdesk.example.com', from = 'Customer <customer@example.net>'): Buffer {
  messageCounter += 1;
  return Buffer.from(
    [
      `From: ${from}`,
      `To: ${to}`,
      `Subject: ${subject}`,
      `Message-ID: <cloud-${messageCounter}-${Date.now()}@example.net>`,
      'Date: Fri, 04 Dec 2026 10:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      `Body of ${subject}.`,
      '',
    ].join('\r\n'),
    'utf8',
  );
}

/**
 * Builds a message whose bytes any re-encoding would change: CRLF and one bare LF, 8-bit
 * ISO-8859-1 text, and a binary attachment holding every byte value except NUL.
 */
export function sampleBinaryMessage(extraHeaders = ''): Buffer {
  const everyByte = Buffer.from(Array.from({ length: 255 }, (_, i) => i + 1));
  return Buffer.concat([
    Buffer.from(
      `${extraHeaders}From: Kunde <kunde@example.org>\r\nTo: support@helpdesk.example.com\r\nSubject: bytes\r\nMessage-ID: <bytes-${Date.now()}@example.org>\r\n` +
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n' +
        'Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr',
      'latin1',
    ),
    Buffer.from([0xfc, 0xdf, 0x65]),
    Buffer.from('\nbare LF above\r\n--b1\r\nContent-Type: application/octet-stream; name="all.bin"\r\nContent-Transfer-Encoding: binary\r\n\r\n', 'latin1'),
    everyByte,
    Buffer.from('\r\n--b1--\r\n', 'latin1'),
  ]);
}
