/**
 * Control characters that could end a header line or hide text in it: C0 (CR, LF, TAB, NUL, ...),
 * DEL, C1 (U+0085 NEL among them) and the Unicode line and paragraph separators, which some mail
 * clients render as line breaks.
 */
const controlCharacters = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/**
 * Returns `value` with every run of control characters replaced by one space, so that the value
 * can never start a new header line, whatever the library that writes it does.
 *
 * Printable text, non-ASCII letters included, is kept as is. Encoding (RFC 2047) is left to the
 * MIME library.
 */
export function singleLineHeaderValue(value: string): string {
  return value.replace(controlCharacters, ' ');
}
