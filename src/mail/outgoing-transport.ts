/**
 * The protocol-neutral contract for sending one composed message: SMTP (password or
 * XOAUTH2), the Gmail API and Microsoft Graph. The raw bytes are sent as they are, so
 * Message-ID, In-Reply-To, References and Reply-To survive on every transport.
 *
 * Errors are `MailqueueError` (src/errors.ts): PermanentDeliveryFailure,
 * TemporaryDeliveryFailure (including 429 and 5xx responses of an API), AuthenticationFailed.
 */
export interface OutgoingSendResult {
  accepted: string[];
  rejected: string[];
  /** The server's or API's response, for the log and the outbox row. */
  response: string;
}

export interface OutgoingTransport {
  /** Protocol name for logs: smtp, gmail, graph. */
  readonly protocol: string;
  send(envelope: { from: string; to: string[] }, raw: Buffer): Promise<OutgoingSendResult>;
}
