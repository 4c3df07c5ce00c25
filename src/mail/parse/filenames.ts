import { decodeEncodedWords } from './encoded-words.js';
import { stripNul } from './nul.js';

const extensions: Record<string, string> = {
  'application/pdf': 'pdf',
  'application/zip': 'zip',
  'application/xml': 'xml',
  'application/json': 'json',
  'application/msword': 'doc',
  'application/pgp-encrypted': 'pgp',
  'application/pgp-signature': 'asc',
  'application/pkcs7-signature': 'p7s',
  'application/x-pkcs7-signature': 'p7s',
  'application/ics': 'ics',
  'text/calendar': 'ics',
  'text/plain': 'txt',
  'text/html': 'html',
  'text/csv': 'csv',
  'text/xml': 'xml',
  'text/rfc822-headers': 'txt',
  'message/rfc822': 'eml',
  'message/delivery-status': 'txt',
  'message/disposition-notification': 'txt',
  'message/feedback-report': 'txt',
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/svg+xml': 'svg',
  'image/webp': 'webp',
};

/** Report parts get a name that says what they are. */
const specialNames: Record<string, string> = {
  'message/delivery-status': 'delivery-status.txt',
  'text/rfc822-headers': 'returned-headers.txt',
  'message/disposition-notification': 'disposition-notification.txt',
  'message/feedback-report': 'feedback-report.txt',
};

/** Maximum name length in UTF-16 code units. Longer names are cut before the extension. */
const maxNameLength = 200;

/**
 * Makes a file name safe to store: decodes leftover encoded-words, replaces `/` and `\`
 * with `_`, removes control characters and leading dots, trims, caps the length.
 * @returns the cleaned name, or `''` when nothing usable is left.
 */
export function sanitizeFilename(name: string): string {
  let clean = stripNul(decodeEncodedWords(name))
    .replace(/[/\\]/g, '_')
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
    .trim()
    .replace(/^\.+/, '')
    .trim();

  if (clean.length > maxNameLength) {
    const dot = clean.lastIndexOf('.');
    const ext = dot > 0 && clean.length - dot <= 10 ? clean.slice(dot) : '';
    clean = clean.slice(0, maxNameLength - ext.length) + ext;
  }
  return clean;
}

/** Invents a name from the content type for a part without one, e.g. `attachment.pdf`. */
export function fallbackFilename(contentType: string): string {
  const special = specialNames[contentType.toLowerCase()];
  if (special !== undefined) return special;
  const ext = extensions[contentType.toLowerCase()] ?? 'bin';
  return `attachment.${ext}`;
}

/**
 * Names an attached message after its subject plus `.eml`. Without a subject it uses the
 * part's Content-Description (Postfix writes "Undelivered Message"), else `message.eml`.
 */
export function messageFilename(innerSubject: string, description = ''): string {
  const base = sanitizeFilename(innerSubject) || sanitizeFilename(description);
  return `${base === '' ? 'message' : base}.eml`;
}
