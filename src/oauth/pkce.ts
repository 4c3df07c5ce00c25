import { createHash, randomBytes } from 'node:crypto';

/** A PKCE pair (RFC 7636, method S256) and the `state` of one authorization request. */
export interface AuthorizationSecrets {
  state: string;
  codeVerifier: string;
  codeChallenge: string;
}

function base64Url(bytes: Buffer): string {
  return bytes.toString('base64url');
}

/** Returns the S256 challenge of a verifier: base64url of its SHA-256, without padding. */
export function codeChallengeFor(codeVerifier: string): string {
  return base64Url(createHash('sha256').update(codeVerifier, 'ascii').digest());
}

/** Creates a fresh state (32 random bytes) and PKCE verifier (43 characters from 32 random bytes). */
export function createAuthorizationSecrets(): AuthorizationSecrets {
  const codeVerifier = base64Url(randomBytes(32));
  return { state: base64Url(randomBytes(32)), codeVerifier, codeChallenge: codeChallengeFor(codeVerifier) };
}
