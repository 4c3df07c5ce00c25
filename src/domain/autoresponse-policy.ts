import { compilePatterns, matchesAnyPattern } from './address-patterns.js';
import { isWithinRateLimit, type RateLimit } from './rate-limit.js';
import { normaliseAddress } from './text.js';

/**
 * Whether a new ticket's first message gets an auto-response, and to whom. Pure:
 * the activity gathers the facts (flags, own addresses, earlier sends) and this
 * decides, so every rule is unit-tested and every skip has a stable reason.
 */

export interface AutoresponseFacts {
  /** False when the message was imported from an archive: imports never trigger mail. */
  live: boolean;
  hasTemplate: boolean;
  hasOutgoingServer: boolean;
  /** Working hours: false when closed, null when the queue has no time group. */
  open: boolean | null;
  automation: { autoSubmitted: boolean; bounce: boolean; list: boolean; reasons: string[] };
  /** First From address (null for a name-only From), Sender, and Reply-To addresses. */
  fromAddress: string | null;
  /** True when From lists several mailboxes; then Sender is the one who sent it. */
  multipleFrom: boolean;
  senderAddress: string | null;
  replyToAddresses: string[];
  /** Addresses of every queue mailbox and sender of this installation. */
  ownAddresses: ReadonlySet<string>;
  /** The message's Message-ID is one this installation generated (found in the outbox or with our prefix). */
  messageIdIsOurs: boolean;
  exceptionPatterns: string[];
  rateLimit: RateLimit;
  /** Times (ms) of earlier auto-responses, from any queue, to the address `responseRecipient` picks. */
  previousSendTimesMs: number[];
  nowMs: number;
}

export type AutoresponseDecision = { send: true; recipient: string } | { send: false; reason: string };

/** Local parts of machine and unattended mailboxes, which never get an auto-response. */
const machineLocalPart = /^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?|notifications?)([+-].*)?$/i;

function localPart(address: string): string {
  return address.slice(0, address.lastIndexOf('@'));
}

/** Picks the recipient of a response: Reply-To when present, else Sender when From names several people, else From. */
export function responseRecipient(facts: Pick<AutoresponseFacts, 'fromAddress' | 'multipleFrom' | 'senderAddress' | 'replyToAddresses'>): string | null {
  const replyTo = facts.replyToAddresses[0];
  if (replyTo) return normaliseAddress(replyTo);
  if (facts.multipleFrom && facts.senderAddress) return normaliseAddress(facts.senderAddress);
  return facts.fromAddress ? normaliseAddress(facts.fromAddress) : null;
}

/** Applies the rules in order; the first that forbids sending gives the reason. */
export function decideAutoresponse(facts: AutoresponseFacts): AutoresponseDecision {
  if (!facts.live) return { send: false, reason: 'imported' };
  if (!facts.hasTemplate) return { send: false, reason: 'no-autoresponse-template' };
  if (!facts.hasOutgoingServer) return { send: false, reason: 'no-outgoing-server' };
  if (facts.open === false) return { send: false, reason: 'outside-working-hours' };
  if (facts.automation.bounce) return { send: false, reason: 'bounce' };
  if (facts.automation.list) return { send: false, reason: `mailing-list:${facts.automation.reasons.join(',')}` };
  if (facts.automation.autoSubmitted) return { send: false, reason: `automatic-mail:${facts.automation.reasons.join(',')}` };

  if (facts.messageIdIsOurs) return { send: false, reason: 'own-message-id' };

  // A name-only From gives no address we could trust, and a guessed one never gets mail.
  if (facts.fromAddress === null && !facts.multipleFrom) return { send: false, reason: 'sender-address-missing' };
  const recipient = responseRecipient(facts);
  if (recipient === null) return { send: false, reason: 'sender-address-missing' };

  const senders = [facts.fromAddress, recipient, ...facts.replyToAddresses].filter((address): address is string => address !== null).map(normaliseAddress);
  const own = senders.find((address) => facts.ownAddresses.has(address));
  if (own) return { send: false, reason: `own-address:${own}` };
  const machine = senders.find((address) => machineLocalPart.test(localPart(address)));
  if (machine) return { send: false, reason: `machine-address:${machine}` };

  const compiled = compilePatterns(facts.exceptionPatterns);
  for (const address of [facts.fromAddress, ...facts.replyToAddresses]) {
    if (address === null) continue;
    const pattern = matchesAnyPattern(address, compiled);
    if (pattern !== null) return { send: false, reason: `exception-pattern:${pattern}` };
  }

  if (!isWithinRateLimit(facts.previousSendTimesMs, facts.nowMs, facts.rateLimit)) {
    return { send: false, reason: `rate-limited:${facts.rateLimit.max}-per-${facts.rateLimit.windowSeconds}s` };
  }
  return { send: true, recipient };
}
