import { decodeUndeclared } from './charset.js';
import { decodeEncodedWords } from './encoded-words.js';
import { stripNul } from './nul.js';

/** One header line as found in the raw bytes, unfolded, name lowercased. */
export interface RawHeader {
  name: string;
  /** Unfolded value bytes, outer whitespace trimmed; may hold raw 8-bit bytes. */
  bytes: Buffer;
}

/** A header whose bytes have been turned into text. */
export interface TextHeader {
  name: string;
  /** Charset-decoded and unfolded, encoded-words still encoded: the input for structured parsing. */
  text: string;
  /** `text` with RFC 2047 encoded-words decoded: what a person reads. */
  decoded: string;
}

/**
 * Finds the end of the header section: the first empty line (CRLF CRLF or LF LF).
 * @returns the byte offset where the body starts, or the input length for a headers-only message.
 */
export function findBodyStart(raw: Uint8Array): number {
  for (let i = 0; i < raw.length; i += 1) {
    if (raw[i] !== 0x0a) continue;
    if (raw[i + 1] === 0x0a) return i + 2;
    if (raw[i + 1] === 0x0d && raw[i + 2] === 0x0a) return i + 3;
  }
  return raw.length;
}

function trimBytes(bytes: Buffer): Buffer {
  let start = 0;
  let end = bytes.length;
  while (start < end && (bytes[start] === 0x20 || bytes[start] === 0x09)) start += 1;
  while (end > start && (bytes[end - 1] === 0x20 || bytes[end - 1] === 0x09 || bytes[end - 1] === 0x0d)) end -= 1;
  return bytes.subarray(start, end);
}

/**
 * Splits a header section into unfolded header lines, in order.
 *
 * Tolerates what real mail holds: an mbox `From ` line first, stray lines without a colon
 * (skipped), LF or CRLF endings. Works on bytes so 8-bit values can be decoded later with
 * the right charset.
 */
export function readRawHeaders(section: Uint8Array): RawHeader[] {
  const headers: Array<{ name: string; parts: Buffer[] }> = [];
  const data = Buffer.from(section.buffer, section.byteOffset, section.byteLength);
  let lineStart = 0;

  while (lineStart < data.length) {
    let lineEnd = data.indexOf(0x0a, lineStart);
    if (lineEnd === -1) lineEnd = data.length;
    let line = data.subarray(lineStart, lineEnd);
    if (line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    lineStart = lineEnd + 1;

    if (line.length === 0) break;
    const current = headers[headers.length - 1];
    if ((line[0] === 0x20 || line[0] === 0x09) && current !== undefined) {
      current.parts.push(line);
      continue;
    }

    const colon = line.indexOf(0x3a);
    const name = colon > 0 ? line.subarray(0, colon).toString('latin1').trim() : '';
    if (colon <= 0 || !/^[\x21-\x39\x3b-\x7e]+$/.test(name)) continue;
    headers.push({ name: name.toLowerCase(), parts: [line.subarray(colon + 1)] });
  }

  return headers.map((h) => ({ name: h.name, bytes: trimBytes(Buffer.concat(h.parts)) }));
}

/**
 * Turns raw header bytes into text: UTF-8 when valid, else `fallbackCharset` (the charset
 * of the first text part), else windows-1252. U+0000 is removed.
 */
export function decodeHeaders(raw: RawHeader[], fallbackCharset: string | null): TextHeader[] {
  return raw.map((header) => {
    const text = stripNul(decodeUndeclared(header.bytes, fallbackCharset));
    return { name: header.name, text, decoded: stripNul(decodeEncodedWords(text)) };
  });
}

/**
 * Finds the charset declared on the first `text/*` Content-Type in the message, used to
 * read raw 8-bit header bytes.
 */
export function firstTextCharset(raw: Uint8Array): string | null {
  const head = Buffer.from(raw.buffer, raw.byteOffset, Math.min(raw.byteLength, 256 * 1024)).toString('latin1');
  const match = /content-type:\s*text\/[\w.+-]+\s*;(?:[^\n]|\n[ \t])*?charset\s*=\s*"?([\w.:+-]+)/i.exec(head);
  return match?.[1] ?? null;
}

/** First header with that (lowercase) name, or undefined. */
export function findHeader(headers: TextHeader[], name: string): TextHeader | undefined {
  return headers.find((h) => h.name === name);
}
