import iconv from 'iconv-lite';
import { TextDecoder } from 'node:util';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Labels mail software writes that should be read with a wider table, as browsers do
 * (WHATWG Encoding): Latin-1 and ASCII labels mean windows-1252, GB2312 means GB18030.
 */
const widerCharsets: Record<string, string> = {
  'us-ascii': 'windows-1252',
  ascii: 'windows-1252',
  'iso-8859-1': 'windows-1252',
  'iso8859-1': 'windows-1252',
  latin1: 'windows-1252',
  gb2312: 'gb18030',
  gbk: 'gb18030',
  'ks_c_5601-1987': 'cp949',
  'iso-8859-8-i': 'iso-8859-8',
  'x-unknown': '',
  unknown: '',
};

/** True when the bytes are well-formed UTF-8. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * Normalises a declared charset label to one iconv-lite or TextDecoder supports, or null
 * when it is missing or unknown. Strips RFC 2231 language suffixes (`utf-8*en`) and quotes.
 */
export function knownCharset(label: string | null | undefined): string | null {
  if (label === null || label === undefined) return null;
  const cleaned = label.trim().replace(/^["']|["']$/g, '').replace(/\*.*$/, '').toLowerCase();
  if (cleaned === '') return null;
  const wider = widerCharsets[cleaned];
  const name = wider === undefined ? cleaned : wider;
  if (name === '') return null;
  return iconv.encodingExists(name) || textDecoderFor(name) !== null ? name : null;
}

/** Returns a WHATWG decoder for charsets iconv-lite lacks (ISO-2022-JP), or null for an unsupported label. */
function textDecoderFor(name: string): TextDecoder | null {
  try {
    return new TextDecoder(name);
  } catch {
    return null;
  }
}

/** Decodes with iconv-lite, or with a WHATWG TextDecoder for the charsets iconv-lite lacks. */
function decodeKnown(bytes: Uint8Array, charset: string): string {
  if (iconv.encodingExists(charset)) return iconv.decode(Buffer.from(bytes), charset);
  return textDecoderFor(charset)?.decode(bytes) ?? Buffer.from(bytes).toString('latin1');
}

/** ISO-2022-JP is 7-bit, so it passes as valid UTF-8; its escape sequences give it away. */
function looksLikeIso2022Jp(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes('\x1b$B', 0, 'latin1');
}

/**
 * Decodes bytes whose charset is unknown or undeclared: UTF-8 when the bytes are valid
 * UTF-8 (ISO-2022-JP when its escape sequences are present), else `fallbackCharset` when it is known, else windows-1252 (never the platform
 * default, never Latin-1, whose C1 range would hide curly quotes and dashes).
 */
export function decodeUndeclared(bytes: Uint8Array, fallbackCharset: string | null = null): string {
  if (looksLikeIso2022Jp(bytes)) return decodeKnown(bytes, 'iso-2022-jp');
  if (isValidUtf8(bytes)) return Buffer.from(bytes).toString('utf8');
  const fallback = knownCharset(fallbackCharset);
  const usable = fallback !== null && fallback !== 'utf-8' && fallback !== 'utf8' ? fallback : 'windows-1252';
  return decodeKnown(bytes, usable);
}

/**
 * Decodes bytes with a declared charset; an unknown or missing label falls back to
 * {@link decodeUndeclared}.
 */
export function decodeWithCharset(bytes: Uint8Array, label: string | null | undefined): string {
  const charset = knownCharset(label);
  if (charset === null) return decodeUndeclared(bytes);
  if ((charset === 'utf-8' || charset === 'utf8') && !isValidUtf8(bytes)) return decodeUndeclared(bytes);
  return decodeKnown(bytes, charset);
}

/**
 * Maps C1 control characters (U+0080–U+009F) to the windows-1252 characters the same bytes
 * stand for (€, curly quotes, dashes). postal-mime reads an undeclared or Latin-1 part as
 * ISO-8859-1, which turns those bytes into invisible controls. Text in mail does not use
 * C1 controls, so mapping them back is safe. The five bytes windows-1252 leaves undefined stay.
 */
export function repairC1Controls(text: string): string {
  if (!/[\u0080-\u009f]/.test(text)) return text;
  return text.replace(/[\u0080-\u009f]+/g, (run) => iconv.decode(Buffer.from(run, 'latin1'), 'windows-1252'));
}
