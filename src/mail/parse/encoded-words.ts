import { decodeWithCharset } from './charset.js';

/**
 * One RFC 2047 encoded-word. The encoded text may hold spaces: that is illegal but some
 * mailers write it, and rejecting it would leave `=?…?=` in the subject.
 */
const encodedWordPattern = /=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=/g;

interface Segment {
  kind: 'text' | 'word';
  text: string;
  charset: string;
  bytes: Buffer;
}

function decodeQ(encoded: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i += 1) {
    const ch = encoded[i];
    const hex = encoded.slice(i + 1, i + 3);
    if (ch === '=' && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (ch === '_') {
      bytes.push(0x20);
    } else {
      bytes.push(...Buffer.from(ch ?? '', 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

function decodeB(encoded: string): Buffer {
  return Buffer.from(encoded.replace(/[^A-Za-z0-9+/]/g, ''), 'base64');
}

function splitSegments(value: string): Segment[] {
  const segments: Segment[] = [];
  let last = 0;

  for (const match of value.matchAll(encodedWordPattern)) {
    const start = match.index ?? 0;
    if (start > last) segments.push({ kind: 'text', text: value.slice(last, start), charset: '', bytes: Buffer.alloc(0) });
    const charset = (match[1] ?? '').replace(/\*.*$/, '').toLowerCase();
    const encoding = (match[2] ?? 'Q').toUpperCase();
    const bytes = encoding === 'B' ? decodeB(match[3] ?? '') : decodeQ(match[3] ?? '');
    segments.push({ kind: 'word', text: match[0], charset, bytes });
    last = start + match[0].length;
  }

  if (last < value.length) segments.push({ kind: 'text', text: value.slice(last), charset: '', bytes: Buffer.alloc(0) });
  return segments;
}

/**
 * Decodes RFC 2047 encoded-words in an unstructured header value (or a display name).
 *
 * Whitespace between adjacent encoded-words is dropped (RFC 2047 6.2), and adjacent words
 * of the same charset are joined as BYTES before charset decoding, so a multi-byte UTF-8
 * character split across two words decodes intact instead of as two U+FFFD.
 */
export function decodeEncodedWords(value: string): string {
  if (!value.includes('=?')) return value;
  const segments = splitSegments(value);
  let out = '';
  let pendingCharset = '';
  let pending: Buffer[] = [];

  const flush = (): void => {
    if (pending.length > 0) out += decodeWithCharset(Buffer.concat(pending), pendingCharset);
    pending = [];
    pendingCharset = '';
  };

  for (let i = 0; i < segments.length; i += 1) {
    const segment = segments[i];
    if (segment === undefined) continue;
    if (segment.kind === 'word') {
      if (pending.length > 0 && segment.charset !== pendingCharset) flush();
      pendingCharset = segment.charset;
      pending.push(segment.bytes);
      continue;
    }
    const previous = segments[i - 1];
    const next = segments[i + 1];
    const betweenWords = previous?.kind === 'word' && next?.kind === 'word' && /^\s*$/.test(segment.text);
    if (betweenWords) continue;
    flush();
    out += segment.text;
  }

  flush();
  return out;
}
