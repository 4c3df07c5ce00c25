import type { BounceReport, ParsedAddress } from '../parsed-message.js';
import { extractMessageIds } from '../../domain/message-ids.js';
import { decodeHeaders, findBodyStart, findHeader, readRawHeaders } from './header-section.js';
import { stripNul } from './nul.js';

/** A body part as the bounce reader needs it. */
export interface ReportPart {
  contentType: string;
  content: Uint8Array;
}

/** Envelope facts used to tell a bounce from a forwarded mail. */
export interface BounceHints {
  contentType: string;
  reportType: string | null;
  from: ParsedAddress[];
  returnPath: string | null;
}

const returnedHeaderTypes = new Set(['text/rfc822-headers', 'message/rfc822', 'message/rfc822-headers']);
const daemonLocalPart = /^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)$/i;

function looksLikeBounce(hints: BounceHints, parts: ReportPart[]): boolean {
  if (hints.contentType === 'multipart/report' && (hints.reportType ?? 'delivery-status') === 'delivery-status') return true;
  if (parts.some((p) => p.contentType === 'message/delivery-status')) return true;
  if (!parts.some((p) => returnedHeaderTypes.has(p.contentType))) return false;
  const fromDaemon = hints.from.some((a) => daemonLocalPart.test((a.address ?? '').split('@')[0] ?? ''));
  return hints.returnPath === '' || fromDaemon;
}

/** Splits a delivery-status body into header groups (per-message, then one per recipient). */
function statusGroups(content: Uint8Array): Array<Map<string, string>> {
  const text = Buffer.from(content).toString('utf8').replace(/\r\n/g, '\n');
  return text
    .split(/\n[ \t]*\n/)
    .map((block) => {
      const fields = new Map<string, string>();
      for (const header of decodeHeaders(readRawHeaders(Buffer.from(`${block}\n`, 'utf8')), null)) {
        if (!fields.has(header.name)) fields.set(header.name, header.decoded.replace(/\s+/g, ' ').trim());
      }
      return fields;
    })
    .filter((fields) => fields.size > 0);
}

/** `rfc822; user@example.com` → `user@example.com`. */
function recipientAddress(value: string): string {
  const semicolon = value.indexOf(';');
  return (semicolon === -1 ? value : value.slice(semicolon + 1)).trim().replace(/^<|>$/g, '');
}

/**
 * Reads a delivery status notification: the Message-IDs found in the returned headers
 * (`text/rfc822-headers` or `message/rfc822` part) and, from a `message/delivery-status`
 * part, each recipient's address, Status, Action and Diagnostic-Code.
 *
 * @returns null when the message is not a bounce. A forwarded `message/rfc822` alone does
 * not make a bounce: that needs a report structure, the null sender or a mailer-daemon From.
 */
export function readBounce(hints: BounceHints, parts: ReportPart[]): BounceReport | null {
  if (!looksLikeBounce(hints, parts)) return null;
  const originalMessageIds: string[] = [];
  const recipients: BounceReport['recipients'] = [];

  for (const part of parts.filter((p) => returnedHeaderTypes.has(p.contentType))) {
    const section = part.content.subarray(0, findBodyStart(part.content));
    const messageId = findHeader(decodeHeaders(readRawHeaders(section), null), 'message-id');
    if (messageId !== undefined) originalMessageIds.push(...extractMessageIds(messageId.text));
  }

  for (const part of parts.filter((p) => p.contentType === 'message/delivery-status')) {
    for (const fields of statusGroups(part.content)) {
      const recipient = fields.get('final-recipient') ?? fields.get('original-recipient');
      if (recipient === undefined) continue;
      recipients.push({
        address: stripNul(recipientAddress(recipient)),
        status: fields.get('status')?.split(/\s/)[0] ?? null,
        action: fields.get('action')?.toLowerCase() ?? null,
        diagnostic: fields.get('diagnostic-code') ?? null,
      });
    }
  }

  // NOTE: bounces without a delivery-status part (free-text NDRs) yield no recipients; reading them would need per-MTA text patterns.
  return { originalMessageIds: [...new Set(originalMessageIds)], recipients };
}
