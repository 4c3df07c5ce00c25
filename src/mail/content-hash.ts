import { createHash } from 'node:crypto';

/**
 * Headers that mail servers add or change on delivery. Two copies of one mail that
 * reached two mailboxes differ only in these, so they are left out of the hash.
 */
const deliveryHeaders = new Set([
  'received',
  'delivered-to',
  'return-path',
  'x-original-to',
  'x-delivered-to',
  'envelope-to',
  'x-envelope-to',
  'x-envelope-from',
  'x-received',
  'x-spam-status',
  'x-spam-score',
  'x-spam-flag',
  'x-spam-level',
  'x-spam-checker-version',
  'x-virus-scanned',
  'authentication-results',
  'arc-authentication-results',
  'arc-message-signature',
  'arc-seal',
  'received-spf',
  'x-ms-exchange-organization-authas',
]);

function headerEnd(raw: Buffer): number {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  if (crlf === -1 && lf === -1) {
    return raw.length;
  }
  if (crlf === -1) {
    return lf;
  }
  if (lf === -1) {
    return crlf;
  }
  return Math.min(crlf, lf);
}

/**
 * SHA-256 (hex) of a raw message without its delivery headers, with line endings
 * normalised to LF, so the same mail fetched from two mailboxes hashes the same.
 */
export function contentHash(raw: Buffer): string {
  const end = headerEnd(raw);
  const headerText = raw.subarray(0, end).toString('latin1').replace(/\r\n/g, '\n');
  const kept: string[] = [];
  let skipping = false;
  for (const line of headerText.split('\n')) {
    const continuation = line.startsWith(' ') || line.startsWith('\t');
    if (!continuation) {
      const name = line.slice(0, Math.max(0, line.indexOf(':'))).trim().toLowerCase();
      skipping = deliveryHeaders.has(name);
    }
    if (!skipping) {
      kept.push(line);
    }
  }
  const body = raw.subarray(end).toString('latin1').replace(/\r\n/g, '\n');
  return createHash('sha256').update(kept.join('\n'), 'latin1').update(body, 'latin1').digest('hex');
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
