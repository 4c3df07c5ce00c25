import { createHash } from 'node:crypto';
import type { Attachment, Email } from 'postal-mime';
import { childLogger } from '../logger.js';
import { extractMessageIds, syntheticMessageId } from '../domain/message-ids.js';
import type { ParsedAddress, ParsedAttachment, ParsedMessage } from './parsed-message.js';
import { parseAddressList } from './parse/addresses.js';
import { readBounce, type ReportPart } from './parse/bounce.js';
import { repairC1Controls } from './parse/charset.js';
import { parseHeaderParams } from './parse/content-type.js';
import { fallbackFilename, messageFilename, sanitizeFilename } from './parse/filenames.js';
import { decodeHeaders, findBodyStart, findHeader, firstTextCharset, readRawHeaders, type TextHeader } from './parse/header-section.js';
import { contentIdKey, htmlToPlainText, referencedContentIds, sanitizeBodyHtml } from './parse/html.js';
import { stripNul } from './parse/nul.js';
import { runLibraryParse } from './parse/run-library.js';

/** Limits for one parse. */
export interface ParseOptions {
  /** Time budget for the MIME body parse in milliseconds; default 5000. Headers are always read. */
  timeoutMs?: number;
  /** Largest message, in bytes, whose body is parsed; default 25 MiB. Above it only headers are read. */
  maxBytes?: number;
}

const defaultTimeoutMs = 5000;
const defaultMaxBytes = 25 * 1024 * 1024;
const log = childLogger({ module: 'mail/parse' });

type Envelope = Omit<ParsedMessage, 'text' | 'html' | 'attachments' | 'bounce' | 'parseError'> & { reportType: string | null };

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function addressesOf(headers: TextHeader[], name: string): ParsedAddress[] {
  return headers.filter((h) => h.name === name).flatMap((h) => parseAddressList(h.text));
}

/** Picks the first From header that contains an address, so a broken earlier one is used only when no other exists. */
function fromAddresses(headers: TextHeader[]): ParsedAddress[] {
  const lists = headers.filter((h) => h.name === 'from').map((h) => parseAddressList(h.text));
  return lists.find((list) => list.some((a) => a.address !== null)) ?? lists[0] ?? [];
}

function returnPathOf(headers: TextHeader[]): string | null {
  const header = findHeader(headers, 'return-path');
  if (header === undefined) return null;
  const inside = /<([^>]*)>/.exec(header.text);
  return (inside?.[1] ?? header.text).trim();
}

function dateOf(headers: TextHeader[]): string | null {
  const header = findHeader(headers, 'date');
  if (header === undefined) return null;
  const parsed = new Date(header.text.replace(/\([^)]*\)/g, '').trim());
  return Number.isNaN(parsed.getTime()) ? null : parsed.toISOString();
}

/** Reads every envelope field from the header section. Pure byte work without the library, so it cannot hang. */
function readEnvelope(raw: Buffer, hash: string): Envelope {
  const section = raw.subarray(0, findBodyStart(raw));
  const headers = decodeHeaders(readRawHeaders(section), firstTextCharset(raw));
  const ids = extractMessageIds(findHeader(headers, 'message-id')?.text ?? '');
  const contentType = parseHeaderParams(findHeader(headers, 'content-type')?.text ?? '');

  return {
    messageId: ids[0] ?? syntheticMessageId(hash),
    messageIdSynthetic: ids[0] === undefined,
    inReplyTo: extractMessageIds(headers.filter((h) => h.name === 'in-reply-to').map((h) => h.text).join(' ')),
    references: extractMessageIds(headers.filter((h) => h.name === 'references').map((h) => h.text).join(' ')),
    from: fromAddresses(headers),
    sender: addressesOf(headers, 'sender')[0] ?? null,
    to: addressesOf(headers, 'to'),
    cc: addressesOf(headers, 'cc'),
    replyTo: addressesOf(headers, 'reply-to'),
    returnPath: returnPathOf(headers),
    subject: findHeader(headers, 'subject')?.decoded ?? '',
    date: dateOf(headers),
    headers: headers.map((h): [string, string] => [h.name, h.decoded]),
    contentType: /^[\w.+-]+\/[\w.+-]+$/.test(contentType.value) ? contentType.value : 'text/plain',
    reportType: contentType.params['report-type']?.toLowerCase() ?? null,
  };
}

function attachmentBytes(attachment: Attachment): Buffer {
  const content = attachment.content;
  if (typeof content === 'string') return Buffer.from(content, attachment.encoding === 'base64' ? 'base64' : 'utf8');
  if (content instanceof ArrayBuffer) return Buffer.from(content);
  return Buffer.from(content.buffer, content.byteOffset, content.byteLength);
}

/** Reads the subject of an attached message with the same header rules as the outer one. */
function innerSubject(content: Buffer): string {
  const headers = decodeHeaders(readRawHeaders(content.subarray(0, findBodyStart(content))), firstTextCharset(content));
  return findHeader(headers, 'subject')?.decoded ?? '';
}

function nameFor(attachment: Attachment, contentType: string, content: Buffer): string {
  const declared = sanitizeFilename(attachment.filename ?? '');
  if (declared !== '') return declared;
  if (contentType === 'message/rfc822') return messageFilename(innerSubject(content), attachment.description ?? '');
  return fallbackFilename(contentType);
}

function toAttachment(attachment: Attachment, inlineIds: Set<string>): ParsedAttachment {
  const content = attachmentBytes(attachment);
  const contentType = stripNul(attachment.mimeType || 'application/octet-stream').toLowerCase();
  const contentId = attachment.contentId ? stripNul(attachment.contentId).trim().replace(/^<|>$/g, '') : null;

  return {
    filename: nameFor(attachment, contentType, content),
    contentType,
    size: content.length,
    contentId: contentId === '' ? null : contentId,
    inline: contentId !== null && contentId !== '' && inlineIds.has(contentIdKey(contentId)),
    sha256: sha256Hex(content),
    content,
  };
}

/** True when the raw message declares an HTML part; postal-mime renders HTML from plain text otherwise. */
function declaresHtml(raw: Buffer): boolean {
  // NOTE: an HTML file sent as an attachment also matches; the body is then the library's HTML rendering of the text.
  return /content-type:\s*"?text\/html/i.test(raw.toString('latin1'));
}

function readBody(raw: Buffer, envelope: Envelope, email: Email): Pick<ParsedMessage, 'text' | 'html' | 'attachments' | 'bounce'> {
  const rawHtml = declaresHtml(raw) && email.html !== undefined ? repairC1Controls(email.html) : null;
  const inlineIds = referencedContentIds(rawHtml ?? '');
  const attachments = email.attachments.map((a) => toAttachment(a, inlineIds));
  const parts: ReportPart[] = attachments.map((a) => ({ contentType: a.contentType, content: a.content }));

  const html = rawHtml === null ? null : stripNul(sanitizeBodyHtml(rawHtml));
  const text = email.text !== undefined && email.text.trim() !== '' ? repairC1Controls(email.text) : htmlToPlainText(html ?? '');

  return {
    text: stripNul(text),
    html,
    attachments,
    bounce: readBounce(
      { contentType: envelope.contentType, reportType: envelope.reportType, from: envelope.from, returnPath: envelope.returnPath },
      parts,
    ),
  };
}

function withoutReportType(envelope: Envelope): Omit<Envelope, 'reportType'> {
  const { reportType: _reportType, ...rest } = envelope;
  return rest;
}

function emptyEnvelope(hash: string): Envelope {
  return {
    messageId: syntheticMessageId(hash),
    messageIdSynthetic: true,
    inReplyTo: [],
    references: [],
    from: [],
    sender: null,
    to: [],
    cc: [],
    replyTo: [],
    returnPath: null,
    subject: '',
    date: null,
    headers: [],
    contentType: 'text/plain',
    reportType: null,
  };
}

/**
 * Parses one raw RFC 822 message into {@link ParsedMessage}.
 *
 * Never throws and never hangs. Headers are read by our own byte-level code. The MIME
 * body is parsed by postal-mime in a worker thread that is terminated after `timeoutMs`.
 * On timeout, on a library failure, or when the message is larger than `maxBytes`, the
 * header fields are still filled, the body is left empty and `parseError` gives the reason.
 * Every string is free of U+0000; attachment bytes are untouched.
 */
export async function parseMessage(raw: Buffer, options: ParseOptions = {}): Promise<ParsedMessage> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const maxBytes = options.maxBytes ?? defaultMaxBytes;
  const hash = sha256Hex(raw);
  const emptyBody = { text: '', html: null, attachments: [], bounce: null };

  let envelope: Envelope;
  try {
    envelope = readEnvelope(raw, hash);
  } catch (error) {
    const reason = `header section unreadable: ${error instanceof Error ? error.message : String(error)}`;
    log.warn({ sha256: hash, reason }, 'message headers could not be parsed');
    return { ...withoutReportType(emptyEnvelope(hash)), ...emptyBody, parseError: reason };
  }

  if (raw.length > maxBytes) {
    const reason = `message is ${raw.length} bytes, over maxBytes ${maxBytes}: body not parsed`;
    log.warn({ messageId: envelope.messageId, size: raw.length, maxBytes }, 'message body skipped for size');
    return { ...withoutReportType(envelope), ...emptyBody, parseError: reason };
  }

  const library = await runLibraryParse(raw, timeoutMs);
  if (!library.ok) {
    log.warn({ messageId: envelope.messageId, reason: library.reason }, 'message body could not be parsed');
    return { ...withoutReportType(envelope), ...emptyBody, parseError: stripNul(library.reason) };
  }

  try {
    return { ...withoutReportType(envelope), ...readBody(raw, envelope, library.email), parseError: null };
  } catch (error) {
    const reason = `body unreadable: ${error instanceof Error ? error.message : String(error)}`;
    log.warn({ messageId: envelope.messageId, reason }, 'message body could not be parsed');
    return { ...withoutReportType(envelope), ...emptyBody, parseError: stripNul(reason) };
  }
}
