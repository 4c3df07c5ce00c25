import { FailureType, MailqueueError } from '../errors.js';
import { parseAddressList } from './parse/addresses.js';
import { findBodyStart, readRawHeaders } from './parse/header-section.js';

/** Collects the addresses (lowercased, each once, in header order) in the named headers of a raw message. */
function addressesIn(raw: Buffer, headerNames: ReadonlySet<string>): string[] {
  const headers = readRawHeaders(raw.subarray(0, findBodyStart(raw)));
  const seen = new Set<string>();

  for (const header of headers) {
    if (!headerNames.has(header.name)) {
      continue;
    }
    for (const parsed of parseAddressList(header.bytes.toString('latin1'))) {
      if (parsed.address !== null) {
        seen.add(parsed.address.toLowerCase());
      }
    }
  }

  return [...seen];
}

const deliveryHeaderNames: ReadonlySet<string> = new Set(['delivered-to', 'x-original-to']);
const recipientHeaderNames: ReadonlySet<string> = new Set(['to', 'cc', 'bcc']);

/**
 * Returns the addresses a provider recorded as delivery targets of this copy (`Delivered-To`, `X-Original-To`),
 * lowercased. Gmail writes `Delivered-To`; Exchange Online usually writes neither, and then the
 * result is empty and routing falls back to To and Cc.
 */
export function deliveredToAddresses(raw: Buffer): string[] {
  return addressesIn(raw, deliveryHeaderNames);
}

/**
 * Returns the recipients named in To, Cc and Bcc of a raw message, lowercased. Gmail and Graph send a
 * raw message to these and ignore any SMTP envelope, so a transport checks the envelope against them.
 */
export function headerRecipients(raw: Buffer): string[] {
  return addressesIn(raw, recipientHeaderNames);
}

/**
 * Throws PermanentDeliveryFailure when an envelope recipient is not in To, Cc or Bcc of `raw`:
 * APIs that send raw MIME (Gmail, Graph) deliver to those headers only, and a recipient
 * silently dropped would be mail lost. `transportName` starts the error message.
 */
export function checkEnvelopeAgainstHeaders(transportName: string, envelopeTo: string[], raw: Buffer): void {
  const named = new Set(headerRecipients(raw));
  const missing = envelopeTo.filter((address) => !named.has(address.toLowerCase()));
  if (missing.length > 0) {
    throw new MailqueueError(
      FailureType.PermanentDeliveryFailure,
      `${transportName}: ${missing.join(', ')} is in the envelope but not in To, Cc or Bcc of the message; the API sends only to header recipients, so compose the message with every recipient in a header`,
      { missing },
    );
  }
}
