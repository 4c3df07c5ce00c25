import type { ParsedAddress } from '../parsed-message.js';
import { decodeEncodedWords } from './encoded-words.js';
import { stripNul } from './nul.js';

type TokenKind = 'word' | 'quoted' | 'comment' | 'angle' | 'comma' | 'colon' | 'semicolon' | 'space';

interface Token {
  kind: TokenKind;
  value: string;
}

/** Reads a comment starting at `start` (an opening parenthesis); nested comments allowed. */
function readComment(text: string, start: number): [value: string, end: number] {
  let depth = 0;
  let value = '';
  let i = start;
  for (; i < text.length; i += 1) {
    const ch = text[i] ?? '';
    if (ch === '\\') {
      value += text[i + 1] ?? '';
      i += 1;
      continue;
    }
    if (ch === '(') {
      depth += 1;
      if (depth === 1) continue;
    }
    if (ch === ')') {
      depth -= 1;
      if (depth === 0) return [value, i + 1];
    }
    value += ch;
  }
  return [value, i];
}

function readQuoted(text: string, start: number): [value: string, end: number] {
  let value = '';
  let i = start + 1;
  for (; i < text.length; i += 1) {
    const ch = text[i] ?? '';
    if (ch === '\\') {
      value += text[i + 1] ?? '';
      i += 1;
      continue;
    }
    if (ch === '"') return [value, i + 1];
    value += ch;
  }
  return [value, i];
}

/** Sticky, so matching at a position does not copy the rest of a long header. */
const encodedWordAt = /=\?[^?\s]+\?[bBqQ]\?[^?]*\?=/y;

const separators: Record<string, TokenKind> = { ',': 'comma', ':': 'colon', ';': 'semicolon' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;

  while (i < text.length) {
    const ch = text[i] ?? '';
    if (/\s/.test(ch)) {
      while (i < text.length && /\s/.test(text[i] ?? '')) i += 1;
      tokens.push({ kind: 'space', value: ' ' });
      continue;
    }
    if (ch === '"') {
      const [value, end] = readQuoted(text, i);
      tokens.push({ kind: 'quoted', value });
      i = end;
      continue;
    }
    if (ch === '(') {
      const [value, end] = readComment(text, i);
      tokens.push({ kind: 'comment', value });
      i = end;
      continue;
    }
    if (ch === '<') {
      const end = text.indexOf('>', i + 1);
      const stop = end === -1 ? text.length : end;
      tokens.push({ kind: 'angle', value: text.slice(i + 1, stop) });
      i = stop + 1;
      continue;
    }
    const separator = separators[ch];
    if (separator !== undefined) {
      tokens.push({ kind: separator, value: ch });
      i += 1;
      continue;
    }

    // An encoded-word is kept whole so that a comma or colon inside it does not split the list.
    encodedWordAt.lastIndex = i;
    const encodedWord = encodedWordAt.exec(text);
    if (encodedWord !== null) {
      tokens.push({ kind: 'word', value: encodedWord[0] });
      i += encodedWord[0].length;
      continue;
    }
    let end = i;
    while (end < text.length && !/[\s"(<,:;]/.test(text[end] ?? '')) end += 1;
    tokens.push({ kind: 'word', value: text.slice(i, end === i ? i + 1 : end) });
    i = end === i ? i + 1 : end;
  }

  return tokens;
}

/** Joins phrase tokens into display text, keeping single spaces where the sender had them. */
function phrase(tokens: Token[]): string {
  let out = '';
  for (const token of tokens) {
    if (token.kind === 'space') out += ' ';
    else if (token.kind === 'word' || token.kind === 'quoted') out += token.value;
  }
  return stripNul(decodeEncodedWords(out.trim()).trim());
}

function toMailbox(tokens: Token[]): ParsedAddress | null {
  const angle = tokens.find((t) => t.kind === 'angle');
  const comments = tokens.filter((t) => t.kind === 'comment').map((t) => t.value.trim()).filter((c) => c !== '');
  const commentName = stripNul(decodeEncodedWords(comments.join(' ')).trim());

  if (angle !== undefined) {
    const beforeAngle = tokens.slice(0, tokens.indexOf(angle));
    const route = angle.value.lastIndexOf(':');
    const address = stripNul((route === -1 ? angle.value : angle.value.slice(route + 1)).trim());
    const name = phrase(beforeAngle) || commentName;
    if (address === '' && name === '') return null;
    return { name, address: address === '' ? null : address };
  }

  const rest = tokens
    .filter((t) => t.kind !== 'comment')
    .map((t) => (t.kind === 'quoted' ? `"${t.value}"` : t.value))
    .join('')
    .trim();
  if (rest.includes('@')) return { name: commentName, address: stripNul(rest) };
  const name = phrase(tokens) || commentName;
  return name === '' ? null : { name, address: null };
}

/**
 * Parses an RFC 5322 address list (From, To, Cc, Reply-To, Sender).
 *
 * Groups are flattened to their members (`undisclosed-recipients:;` yields nothing), a
 * mailbox without an address (`From: Scanner`) yields `address: null`, display names have
 * their RFC 2047 encoded-words decoded. Encoded-words inside the address itself are left
 * as they are: RFC 2047 forbids them there, and decoding them would let a sender forge
 * another address. Malformed input yields fewer or name-only entries, not an error.
 *
 * @param text the header value after charset decoding, with encoded-words still encoded.
 */
export function parseAddressList(text: string): ParsedAddress[] {
  const result: ParsedAddress[] = [];
  let current: Token[] = [];

  const finish = (): void => {
    const mailbox = toMailbox(current);
    if (mailbox !== null) result.push(mailbox);
    current = [];
  };

  for (const token of tokenize(text)) {
    if (token.kind === 'comma' || token.kind === 'semicolon') finish();
    else if (token.kind === 'colon') current = [];
    else current.push(token);
  }

  finish();
  return result;
}
