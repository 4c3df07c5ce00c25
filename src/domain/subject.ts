/**
 * Subject handling: reply/forward prefixes, the ticket tag and the subjects we send.
 * Pure: no I/O.
 */

import { FailureType, MailqueueError } from '../errors.js';

/** Placeholder that a ticket tag template must contain exactly once. */
export const TICKET_NUMBER_PLACEHOLDER = '{number}';

/** Title stored for a ticket whose subject is empty once prefixes and tags are removed. */
export const NO_SUBJECT_TITLE = '(no subject)';

/**
 * Reply and forward abbreviations that mail clients put in front of a subject, in the
 * languages helpdesks meet most often. Matching is case-insensitive, so each spelling
 * appears once.
 * NOTE: out-of-office labels such as `Automatic reply:` or `Out of Office:` are not
 * stripped, so an untagged out-of-office mail keeps them in its ticket title.
 */
const replyPrefixWords = [
  // English and international
  're', 'fwd', 'fw',
  // German
  'aw', 'antwort', 'wg',
  // Danish, Norwegian, Swedish, Icelandic, Finnish
  'sv', 'vs', 'vb', 'fs', 'vl',
  // Dutch
  'antw', 'doorst',
  // Polish, Czech, Slovak
  'odp', 'pd', 'př',
  // Turkish
  'ynt', 'ilt', 'İlt',
  // French, Spanish, Portuguese, Italian
  'tr', 'trs', 'réf', 'ref', 'rv', 'enc', 'res', 'rif', 'r',
  // Italian Outlook writes `I:` (inoltrato) for forwards.
  'i',
  // Croatian, Serbian, Slovenian
  'odg',
  // Hungarian
  'vá', 'továbbítás',
  // Latvian, Lithuanian, Welsh
  'atb', 'pārs', 'ats', 'prl',
  // Greek
  'απ', 'σχετ', 'πρθ',
  // Russian, Ukrainian, Bulgarian
  'отв', 'ответ', 'ит', 'пересл',
  // Chinese, Japanese, Korean
  '回复', '回覆', '答复', '转发', '轉寄', '返信', '転送', '답장', '회신', '전달',
];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * A run of leading `[...]` groups (kept), then one prefix word, an optional counter
 * (`[2]`, `(2)`, `^2`) and a colon (ASCII or full-width). The colon is required, so
 * `Reports due` or `SVN build` stay untouched.
 */
const leadingPrefix = new RegExp(
  String.raw`^((?:\s*\[[^\[\]]*\])*)\s*(?:` +
    replyPrefixWords.map(escapeRegExp).join('|') +
    String.raw`)\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]`,
  'iu',
);

/** Collapses every whitespace run (tabs and folded line breaks included) into one space and trims. */
function collapseWhitespace(text: string): string {
  return text.replace(/\s+/gu, ' ').trim();
}

/**
 * Removes reply and forward prefixes from the start of a subject: stacked and repeated
 * (`Antw: SV: Re[2]:`), in any case, with or without a space after the colon, with a
 * counter (`Re[2]:`, `RE(3):`, `Re^2:`) and in the languages listed in this module.
 * A prefix that follows leading bracketed groups, such as a ticket tag or a list name
 * (`[Ticket#100001] Re: x`), is removed too, while the bracketed text is kept.
 * Whitespace is collapsed to single spaces and trimmed.
 */
export function stripReplyPrefixes(subject: string): string {
  let current = collapseWhitespace(subject);

  for (;;) {
    const next = current.replace(leadingPrefix, '$1');
    if (next === current) break;
    current = collapseWhitespace(next);
  }

  return current;
}

/**
 * Returns the problems with a ticket tag template such as `[Ticket#{number}]`; an empty
 * list means the template is usable. Everything except the `{number}` placeholder is
 * literal text, which must not be blank because a bare number would match any number
 * in a subject.
 */
export function validateTicketTagTemplate(template: string): string[] {
  const errors: string[] = [];
  const placeholderCount = template.split(TICKET_NUMBER_PLACEHOLDER).length - 1;

  if (placeholderCount === 0) {
    errors.push(`Ticket tag template ${JSON.stringify(template)} is missing the ${TICKET_NUMBER_PLACEHOLDER} placeholder: add it where the ticket number goes, e.g. "[Ticket#{number}]".`);
  }
  if (placeholderCount > 1) {
    errors.push(`Ticket tag template ${JSON.stringify(template)} contains ${TICKET_NUMBER_PLACEHOLDER} ${placeholderCount} times: keep exactly one.`);
  }

  const literal = template.replaceAll(TICKET_NUMBER_PLACEHOLDER, '');
  if (literal.trim() === '') {
    errors.push(`Ticket tag template ${JSON.stringify(template)} has no literal text around ${TICKET_NUMBER_PLACEHOLDER}: add a marker such as "[Ticket#{number}]" so that other numbers in a subject are not taken for ticket numbers.`);
  }
  if (/[\r\n]/.test(template)) {
    errors.push(`Ticket tag template ${JSON.stringify(template)} contains a line break: write it on one line.`);
  }

  const otherPlaceholder = /\{[A-Za-z_]+\}/.exec(literal);
  if (otherPlaceholder !== null) {
    errors.push(`Ticket tag template ${JSON.stringify(template)} contains the unknown placeholder ${otherPlaceholder[0]}: only ${TICKET_NUMBER_PLACEHOLDER} is supported.`);
  }

  return errors;
}

function assertValidTemplate(template: string): void {
  const errors = validateTicketTagTemplate(template);
  if (errors.length > 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, errors.join(' '), { template });
  }
}

/** Escapes literal template text, letting any whitespace run match any whitespace run. */
function literalPattern(text: string): string {
  return text
    .split(/\s+/u)
    .map(escapeRegExp)
    .join(String.raw`\s+`);
}

/**
 * Builds a global, case-insensitive pattern for the tag, with the number as group 1.
 * Spaces or tabs around the number are tolerated (`[Ticket# 100001]`), and the number
 * must not be part of a longer digit run.
 */
function ticketTagPattern(template: string): RegExp {
  assertValidTemplate(template);

  const [before = '', after = ''] = template.split(TICKET_NUMBER_PLACEHOLDER);
  const source =
    literalPattern(before) +
    String.raw`[ \t]*(?<!\d)(\d+)(?!\d)[ \t]*` +
    literalPattern(after);

  return new RegExp(source, 'giu');
}

/**
 * Formats the ticket tag for a ticket number, e.g. `[Ticket#100001]`.
 *
 * @throws MailqueueError (InvalidConfiguration) when the template is invalid or the number is not a non-negative safe integer.
 */
export function formatTicketTag(template: string, number: number): string {
  assertValidTemplate(template);

  if (!Number.isSafeInteger(number) || number < 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Ticket number ${String(number)} is invalid: use a non-negative whole number.`, { number });
  }

  return template.replace(TICKET_NUMBER_PLACEHOLDER, String(number));
}

/**
 * Finds the ticket numbers of every tag in a subject, wherever it sits (after stacked
 * prefixes, glued to a prefix as in `AW:[Ticket#1]`, or mid-subject). The literal part
 * of the template matches case-insensitively.
 *
 * @returns distinct numbers in order of first appearance; numbers beyond the safe integer range are skipped.
 * @throws MailqueueError (InvalidConfiguration) when the template is invalid.
 */
export function findTicketNumbers(subject: string, template: string): number[] {
  const numbers: number[] = [];

  for (const match of subject.matchAll(ticketTagPattern(template))) {
    const number = Number(match[1]);
    if (Number.isSafeInteger(number) && !numbers.includes(number)) numbers.push(number);
  }

  return numbers;
}

/**
 * Removes every ticket tag from a subject and collapses the whitespace left behind.
 *
 * @throws MailqueueError (InvalidConfiguration) when the template is invalid.
 */
export function removeTicketTag(subject: string, template: string): string {
  return collapseWhitespace(subject.replace(ticketTagPattern(template), ' '));
}

/**
 * Returns the title to store for a ticket: the subject without reply/forward prefixes
 * and without ticket tags, or `(no subject)` when nothing is left.
 *
 * @throws MailqueueError (InvalidConfiguration) when the template is invalid.
 */
export function ticketTitleFromSubject(subject: string, template: string): string {
  const withoutPrefixes = stripReplyPrefixes(subject);
  const withoutTag = removeTicketTag(withoutPrefixes, template);

  // Removing the tag can uncover prefixes that stood after it, as in `[Ticket#1] AW: x`.
  const title = stripReplyPrefixes(withoutTag);

  return title === '' ? NO_SUBJECT_TITLE : title;
}

/**
 * Builds the subject of a message we send on a ticket: `Re: [Ticket#100001] Title`.
 * Prefixes and copies of the tag already in the title are dropped first, so the subject
 * never grows with each round trip.
 */
export function replySubject(ticketTitle: string, tag: string): string {
  const trimmedTag = tag.trim();
  let withoutTag = ticketTitle;
  if (trimmedTag !== '') {
    withoutTag = ticketTitle.replace(new RegExp(literalPattern(trimmedTag), 'giu'), ' ');
  }

  const title = stripReplyPrefixes(withoutTag);
  const parts = ['Re:', trimmedTag, title === '' ? NO_SUBJECT_TITLE : title];

  return parts.filter((part) => part !== '').join(' ');
}
