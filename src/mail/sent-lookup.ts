import { FailureType, MailqueueError } from '../errors.js';

/**
 * A transport whose provider keeps the mail it sent (Gmail's SENT label, Exchange's Sent Items)
 * and can look it up by Message-ID. After an interrupted attempt the send activity can ask it:
 * a message found there was delivered, so the row can be marked sent instead of sent twice.
 */
export interface SentMailLookup {
  /**
   * Returns true when a message with this Message-ID (without angle brackets) is in the
   * mailbox's sent mail. False is not proof of absence right after a send: the provider
   * may file the copy a little later.
   */
  findSent(messageId: string): Promise<boolean>;
}

/**
 * Returns a Message-ID without angle brackets, checked to be usable inside a provider's
 * search or filter expression. Throws InvalidConfiguration for whitespace, quotes or an empty value.
 */
export function searchableMessageId(messageId: string): string {
  const bare = messageId.trim().replace(/^<|>$/g, '');
  if (bare === '' || /[\s"'<>\\]/.test(bare)) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Message-ID ${JSON.stringify(messageId)} cannot be searched; expected local@domain without spaces or quotes`, { messageId });
  }
  return bare;
}

/**
 * Tells whether a transport can look its sent mail up, by the presence of `findSent`
 * rather than by protocol name, so any transport that implements it is asked.
 */
export function offersSentMailLookup<T extends object>(transport: T): transport is T & SentMailLookup {
  return typeof (transport as Partial<SentMailLookup>).findSent === 'function';
}
