/**
 * Message-ID handling for Message-ID, In-Reply-To and References headers. Pure: no I/O.
 */

/** Removes RFC 5322 comments (nested parentheses) that sit outside angle brackets and quotes. */
function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  let inAngle = false;
  let inQuote = false;

  for (let i = 0; i < value.length; i += 1) {
    const ch = value[i];
    if (ch === '\\' && (depth > 0 || inQuote) && i + 1 < value.length) {
      if (depth === 0) out += ch + value[i + 1];
      i += 1;
      continue;
    }
    if (depth === 0 && !inAngle && ch === '"') inQuote = !inQuote;
    if (!inQuote && !inAngle && ch === '(') {
      depth += 1;
      continue;
    }
    if (!inQuote && !inAngle && ch === ')' && depth > 0) {
      depth -= 1;
      out += ' ';
      continue;
    }
    if (depth > 0) continue;
    if (!inQuote && ch === '<') inAngle = true;
    if (!inQuote && ch === '>') inAngle = false;
    out += ch;
  }

  return out;
}

/**
 * Extracts message ids from a Message-ID, In-Reply-To or References header value.
 *
 * Accepts ids glued together (`<a@b><c@d>`), separated by commas or whitespace, mixed
 * with RFC 5322 comments, or folded over lines. When the value contains no bracketed id
 * at all, bare tokens that contain `@` are taken, because some mailers omit the brackets.
 *
 * @returns ids without angle brackets and without inner whitespace, de-duplicated, in header order.
 */
export function extractMessageIds(headerValue: string): string[] {
  const cleaned = stripComments(headerValue.replace(/\r?\n/g, ' '));
  const found: string[] = [];

  for (const match of cleaned.matchAll(/<([^<>]*)>/g)) {
    const id = (match[1] ?? '').replace(/\s+/g, '');
    if (id !== '') found.push(id);
  }

  if (found.length === 0) {
    for (const token of cleaned.split(/[\s,<>]+/)) {
      if (token.includes('@')) found.push(token);
    }
  }

  return [...new Set(found)];
}

/**
 * Builds a stable stand-in Message-ID for a message that has none, derived from the SHA-256 of
 * its raw bytes so that the same message fetched twice gets the same id.
 *
 * @param sha256Hex lowercase or uppercase hex SHA-256 (64 hex digits) of the raw message.
 * @returns an id without angle brackets in the reserved `.invalid` domain, e.g. `3f2a…@mailqueue.invalid`.
 */
export function syntheticMessageId(sha256Hex: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(sha256Hex)) {
    throw new Error(`syntheticMessageId expects 64 hex digits of a SHA-256, got "${sha256Hex.slice(0, 80)}"; pass createHash('sha256').update(raw).digest('hex')`);
  }
  return `${sha256Hex.slice(0, 32).toLowerCase()}@mailqueue.invalid`;
}
