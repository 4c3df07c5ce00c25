import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { FailureType, MailqueueError } from './errors.js';

/**
 * AES-256-GCM encryption of secrets at rest. The stored form is
 * `v1:<base64 of 12-byte IV | 16-byte tag | ciphertext>`.
 */

const VERSION_PREFIX = 'v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Parses MAILQUEUE_SECRET_KEY: 64 hex characters or base64 of exactly 32 bytes. */
export function parseSecretKey(value: string): Buffer {
  const trimmed = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new MailqueueError(
      FailureType.SecretKeyInvalid,
      `MAILQUEUE_SECRET_KEY must be 32 bytes as 64 hex characters or base64 (got ${key.length} bytes): generate one with \`openssl rand -hex 32\``,
    );
  }
  return key;
}

export function generateSecretKey(): string {
  return randomBytes(32).toString('hex');
}

export function encryptSecret(key: Buffer, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return VERSION_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
}

/** Decrypts a stored secret; a wrong key or tampered value raises SecretKeyInvalid. */
export function decryptSecret(key: Buffer, stored: string): string {
  if (!stored.startsWith(VERSION_PREFIX)) {
    throw new MailqueueError(FailureType.SecretKeyInvalid, 'Stored secret has an unknown format; re-enter the password');
  }
  const data = Buffer.from(stored.slice(VERSION_PREFIX.length), 'base64');
  const iv = data.subarray(0, IV_BYTES);
  const tag = data.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
  const ciphertext = data.subarray(IV_BYTES + TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new MailqueueError(
      FailureType.SecretKeyInvalid,
      'A stored secret could not be decrypted: MAILQUEUE_SECRET_KEY is not the key the secrets were saved with',
      {},
      { cause: error },
    );
  }
}
