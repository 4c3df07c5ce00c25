/**
 * Message-IDs this installation generates: `mq.<token>@<sender domain>`. The prefix
 * lets an incoming copy of our own mail be recognised even before its outbox row is
 * found, e.g. when another installation's Bcc brings it back.
 */
export const OWN_MESSAGE_ID_PREFIX = 'mq.';

/** Builds a Message-ID (without angle brackets) from a random token and the sender address's domain. */
export function ownMessageId(token: string, senderAddress: string): string {
  const at = senderAddress.lastIndexOf('@');
  const domain = at === -1 ? 'mailqueue.invalid' : senderAddress.slice(at + 1).toLowerCase();
  return `${OWN_MESSAGE_ID_PREFIX}${token}@${domain}`;
}

export function looksLikeOwnMessageId(messageId: string, ownDomains: ReadonlySet<string>): boolean {
  const at = messageId.lastIndexOf('@');
  return messageId.startsWith(OWN_MESSAGE_ID_PREFIX) && at !== -1 && ownDomains.has(messageId.slice(at + 1).toLowerCase());
}
