/**
 * Supplies OAuth2 access tokens to a mailbox adapter (XOAUTH2, Gmail API, Graph).
 * The provider refreshes tokens and stores rotated refresh tokens itself; adapters
 * only ask for a token and report a rejected one. Tokens never leave the activity.
 */
export interface AccessTokenProvider {
  /** A token valid for at least the next minute. Throws MailqueueError AuthenticationFailed when the grant is revoked or expired. */
  getAccessToken(): Promise<string>;
  /** Forgets the cached token after the provider's API returned 401, so the next call refreshes. */
  invalidate(): void;
}
