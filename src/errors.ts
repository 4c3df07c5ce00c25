/**
 * The failure vocabulary shared by adapters and activities. Adapters throw
 * MailqueueError; activities turn it into an ApplicationFailure with the same
 * `type`, so retry policy is decided here and nowhere else.
 */

export const FailureType = {
  /** Wrong login name or password; retried with backoff because an operator may fix it. */
  AuthenticationFailed: 'AuthenticationFailed',
  /** Certificate did not verify while "SSL trusted" is on. */
  CertificateRejected: 'CertificateRejected',
  /** DNS, refused connection, reset socket. */
  ConnectionFailed: 'ConnectionFailed',
  Timeout: 'Timeout',
  /** The server replied with something the adapter cannot work with. */
  ProtocolError: 'ProtocolError',
  FolderNotFound: 'FolderNotFound',
  /** Configuration that cannot work until an operator changes it. */
  InvalidConfiguration: 'InvalidConfiguration',
  /** MAILQUEUE_SECRET_KEY missing or wrong for the stored secrets. */
  SecretKeyInvalid: 'SecretKeyInvalid',
  QueueNotFound: 'QueueNotFound',
  /** SMTP 5xx or any other rejection that a retry cannot fix. */
  PermanentDeliveryFailure: 'PermanentDeliveryFailure',
  /** SMTP 4xx and other failures worth retrying. */
  TemporaryDeliveryFailure: 'TemporaryDeliveryFailure',
  /**
   * The identity provider refused the stored OAuth2 grant (revoked, expired, password changed).
   * Retryable, because fetching and sending resume once an operator reconnects the mailbox.
   */
  ReconnectRequired: 'ReconnectRequired',
  /** The tenant admin must grant the application's permissions before anyone can sign in. */
  ConsentRequired: 'ConsentRequired',
  /** The person may not do this, e.g. log in to a queue an admin has not allowed them on. */
  NotPermitted: 'NotPermitted',
  /** A record is not in the state the action needs, e.g. accepting an offer that expired. */
  StateConflict: 'StateConflict',
  /** No email activity has the given id. */
  ActivityNotFound: 'ActivityNotFound',
} as const;

export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];

/** Failure types after which a retry cannot succeed without an operator. */
const nonRetryable = new Set<FailureTypeName>([
  FailureType.InvalidConfiguration,
  FailureType.QueueNotFound,
  FailureType.PermanentDeliveryFailure,
  FailureType.NotPermitted,
  FailureType.StateConflict,
  FailureType.ActivityNotFound,
]);

export function isRetryable(type: FailureTypeName): boolean {
  return !nonRetryable.has(type);
}

/** An error with a stable `type` from FailureType. Messages never contain secrets. */
export class MailqueueError extends Error {
  readonly type: FailureTypeName;
  readonly details: Record<string, unknown>;

  constructor(type: FailureTypeName, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MailqueueError';
    this.type = type;
    this.details = details;
  }
}
