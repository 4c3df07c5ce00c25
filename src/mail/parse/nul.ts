/** Removes U+0000, which PostgreSQL text columns reject. */
export function stripNul(value: string): string {
  return value.includes('\u0000') ? value.replace(/\u0000/g, '') : value;
}
