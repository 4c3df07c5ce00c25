import MailComposer from 'nodemailer/lib/mail-composer';
import type { MailComposerAttachment } from 'nodemailer/lib/mail-composer';

import { singleLineHeaderValue } from '../domain/header-value.js';
import { FailureType, MailqueueError } from '../errors.js';

export interface MailAddress {
  name?: string;
  address: string;
}

export interface OutgoingAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
  /** Content-ID without angle brackets, referenced from the HTML part as a `cid:` URL. */
  contentId?: string;
}

/** An outgoing mail (auto-response or agent reply) before MIME encoding. */
export interface OutgoingMail {
  /** Message-ID without angle brackets. */
  messageId: string;
  from: { name: string; address: string };
  to: MailAddress[];
  cc?: MailAddress[];
  replyTo?: MailAddress | null;
  subject: string;
  text: string;
  html?: string | null;
  /** Message-ID of the mail this one replies to, without angle brackets. */
  inReplyTo?: string | null;
  /** Thread Message-IDs, oldest first, without angle brackets. Trimmed with `trimReferences`. */
  references?: string[];
  /** Extra header fields, for example Auto-Submitted, X-Auto-Response-Suppress or X-Mailqueue-Ticket. */
  headers?: Record<string, string>;
  attachments?: OutgoingAttachment[];
  date: Date;
}

/** RFC 5322 field-name pattern: printable ASCII except the colon. */
const fieldName = /^[\x21-\x39\x3b-\x7e]+$/;

/** Upper bound of Message-IDs in a composed References header. */
const defaultMaxReferences = 20;

/**
 * Builds the raw RFC 5322 bytes (CRLF line ends) of an outgoing mail with nodemailer's MailComposer.
 *
 * All header encoding (RFC 2047 for non-ASCII names and subjects, folding, angle brackets around
 * Message-IDs) is the library's. Before any value reaches the library, control characters in it
 * are replaced by spaces (`singleLineHeaderValue`), so no input can add a header line. File and URL
 * access of the composer is turned off because every content is given in memory.
 *
 * Throws a MailqueueError of type InvalidConfiguration for an empty Message-ID or sender address
 * and for a custom header name that is not a valid RFC 5322 field name.
 */
export async function composeMail(mail: OutgoingMail): Promise<Buffer> {
  const messageId = messageIdValue(mail.messageId);
  if (messageId === '') {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Outgoing mail has an empty Message-ID (${JSON.stringify(mail.messageId)}); generate one as "local-part@domain" before composing.`);
  }
  if (singleLineHeaderValue(mail.from.address).trim() === '') {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Outgoing mail ${messageId} has an empty sender address; set the queue's sender address.`);
  }

  const inReplyTo = mail.inReplyTo == null ? '' : messageIdValue(mail.inReplyTo);
  const references = trimReferences(
    (mail.references ?? []).map(messageIdValue).filter((id) => id !== ''),
    defaultMaxReferences,
  );

  const composer = new MailComposer({
    messageId,
    date: mail.date,
    from: addressValue(mail.from),
    to: mail.to.map(addressValue),
    cc: mail.cc && mail.cc.length > 0 ? mail.cc.map(addressValue) : undefined,
    replyTo: mail.replyTo ? addressValue(mail.replyTo) : undefined,
    subject: singleLineHeaderValue(mail.subject),
    inReplyTo: inReplyTo === '' ? undefined : inReplyTo,
    references: references.length > 0 ? references : undefined,
    headers: customHeaders(mail.headers ?? {}),
    text: mail.text,
    html: mail.html ?? undefined,
    attachments: (mail.attachments ?? []).map(attachmentValue),
    newline: 'win',
    disableFileAccess: true,
    disableUrlAccess: true,
  });

  return composer.compile().build();
}

/**
 * Shortens a References list to at most `maxIds` Message-IDs: the first one (the thread root)
 * and the newest `maxIds - 1`.
 *
 * Some servers reject very long References headers, and RFC 5322 section 3.6.4 recommends keeping
 * the first Message-ID when a client shortens the list, because threading clients find the thread
 * by its root. Input order is oldest first, as in the header. Throws a RangeError when `maxIds` is
 * not a positive integer.
 */
export function trimReferences(ids: string[], maxIds = defaultMaxReferences): string[] {
  if (!Number.isInteger(maxIds) || maxIds < 1) {
    throw new RangeError(`trimReferences: maxIds must be a positive integer, got ${maxIds}; pass 1 or more.`);
  }
  if (ids.length <= maxIds) {
    return [...ids];
  }
  if (maxIds === 1) {
    return [ids[0]];
  }

  return [ids[0], ...ids.slice(ids.length - (maxIds - 1))];
}

/** Strips control characters, surrounding whitespace and one pair of angle brackets, because the library adds its own. */
function messageIdValue(id: string): string {
  return singleLineHeaderValue(id).trim().replace(/^<(.*)>$/, '$1').trim();
}

function addressValue(address: MailAddress): { name: string; address: string } {
  return {
    name: singleLineHeaderValue(address.name ?? ''),
    address: singleLineHeaderValue(address.address).trim(),
  };
}

function customHeaders(headers: Record<string, string>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!fieldName.test(name)) {
      throw new MailqueueError(
        FailureType.InvalidConfiguration,
        `Custom header name ${JSON.stringify(name)} is not a valid field name; use printable ASCII without spaces or ":", such as "X-Mailqueue-Ticket".`,
      );
    }
    result[name] = singleLineHeaderValue(value);
  }
  return result;
}

function attachmentValue(attachment: OutgoingAttachment): MailComposerAttachment {
  const contentId = attachment.contentId === undefined ? '' : messageIdValue(attachment.contentId);
  return {
    filename: singleLineHeaderValue(attachment.filename),
    contentType: singleLineHeaderValue(attachment.contentType),
    content: attachment.content,
    cid: contentId === '' ? undefined : contentId,
  };
}
