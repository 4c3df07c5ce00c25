/**
 * The parsed form of one RFC 822 message, as the parser hands it to storage.
 * Every string is free of U+0000 so that PostgreSQL text columns accept it.
 */

/** One mailbox from an address header. `address` is null for a name-only entry such as `From: Scanner`. */
export interface ParsedAddress {
  name: string;
  address: string | null;
}

export interface ParsedAttachment {
  /** Decoded, sanitised file name (no path separators); never empty. */
  filename: string;
  contentType: string;
  /** Decoded size in bytes. */
  size: number;
  /** Content-ID without angle brackets, or null. */
  contentId: string | null;
  /** True for images referenced from the HTML body (shown inline, not listed as attachments). */
  inline: boolean;
  /** Lowercase hex SHA-256 of the decoded content. */
  sha256: string;
  content: Buffer;
}

/** Contents of a delivery status notification (bounce). */
export interface BounceReport {
  /** Message-IDs (without angle brackets) of the message that could not be delivered. */
  originalMessageIds: string[];
  recipients: Array<{ address: string; status: string | null; action: string | null; diagnostic: string | null }>;
}

export interface ParsedMessage {
  /** Message-ID without angle brackets. Synthetic (stable for the same bytes) when the header is missing or empty. */
  messageId: string;
  messageIdSynthetic: boolean;
  /** Message-IDs without angle brackets, in header order. */
  inReplyTo: string[];
  references: string[];
  from: ParsedAddress[];
  sender: ParsedAddress | null;
  to: ParsedAddress[];
  cc: ParsedAddress[];
  replyTo: ParsedAddress[];
  /** Envelope sender from Return-Path: `''` for the null sender `<>`, null when the header is absent. */
  returnPath: string | null;
  /** Decoded subject, exactly as sent (not HTML-escaped, prefixes kept). */
  subject: string;
  /** ISO 8601 date from the Date header, or null when missing or invalid. */
  date: string | null;
  text: string;
  /** HTML body after allow-list sanitising, or null when the message has no HTML part. */
  html: string | null;
  attachments: ParsedAttachment[];
  /** Every header in order, names lowercased, values decoded to text (unfolded). */
  headers: Array<[name: string, value: string]>;
  /** Top-level MIME type, lowercased, e.g. `multipart/report`. */
  contentType: string;
  bounce: BounceReport | null;
  /** Reason parsing was incomplete (timeout, malformed structure), or null. The fields above contain what could be recovered. */
  parseError: string | null;
}
