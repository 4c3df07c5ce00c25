/**
 * Removes every U+0000 character, because PostgreSQL `text` and `varchar`
 * columns reject it and node-postgres passes it through unchanged, so one NUL in
 * a subject or body would make the whole INSERT fail. Apply it to decoded text
 * only: attachment bytes and the raw message stay untouched.
 */
export function stripNul(s: string): string {
  return s.replaceAll('\u0000', '');
}

/**
 * Returns an e-mail address trimmed and lowercased, the form used to compare
 * participants and exception patterns. Lowercasing the local part as well is a
 * deliberate simplification: RFC 5321 allows case-sensitive local parts, but
 * real mailbox providers treat them case-insensitively.
 */
export function normaliseAddress(a: string): string {
  return a.trim().toLowerCase();
}
