import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';

import { FailureType, MailqueueError } from '../errors.js';
import { findUserById, type UserRecord } from './users.js';

/** Every token starts with this, so a leaked one is easy to recognise in logs and secret scanners. */
export const API_TOKEN_PREFIX = 'mq_';

const TOKEN_BYTES = 32;
/** Characters of the token kept in clear beside the hash, to tell tokens apart in a listing. */
const SHOWN_PREFIX_LENGTH = API_TOKEN_PREFIX.length + 6;
const maxNameLength = 100;

/** A token as listed: never the token itself nor its hash. */
export interface ApiTokenRecord {
  id: number;
  userId: number;
  name: string;
  /** The first characters of the token, such as `mq_Ab3dE_`. */
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface ApiTokenRow {
  id: number;
  user_id: number;
  name: string;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const listedColumns = ['id', 'user_id', 'name', 'prefix', 'created_at', 'last_used_at', 'revoked_at'];

function toRecord(row: ApiTokenRow): ApiTokenRecord {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

/**
 * Hashes a token with SHA-256, in hex. A fast hash is enough because the token is 256
 * random bits: guessing it from the hash is out of reach, unlike a password, so a slow
 * password hash would only add latency to every API request.
 */
export function hashApiToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Creates an API token for a user. The token is returned here once and never again:
 * only its hash is stored.
 *
 * @throws MailqueueError (InvalidConfiguration) when the name is empty or too long, or the user does not exist.
 */
export async function createApiToken(db: Knex, userId: number, name: string): Promise<{ token: string; record: ApiTokenRecord }> {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > maxNameLength || /[\u0000-\u001f\u007f]/.test(trimmed)) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Token name ${JSON.stringify(name)} is invalid: use 1 to ${maxNameLength} printable characters, such as "reporting script".`, { name });
  }
  if ((await findUserById(db, userId)) === null) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `User ${userId} does not exist: check the user with \`mailqueue users list\`.`, { userId });
  }

  const token = `${API_TOKEN_PREFIX}${randomBytes(TOKEN_BYTES).toString('base64url')}`;
  const [row] = await db('api_tokens')
    .insert({ user_id: userId, name: trimmed, token_hash: hashApiToken(token), prefix: token.slice(0, SHOWN_PREFIX_LENGTH) })
    .returning<ApiTokenRow[]>(listedColumns);
  return { token, record: toRecord(row) };
}

/**
 * Finds the active user a bearer token belongs to. Revoked tokens and inactive users
 * give null, the same as an unknown token. The lookup is by hash, so comparing in
 * constant time is not needed. `last_used_at` is written at most once a minute per
 * token, so busy clients do not turn every read into a write.
 */
export async function findUserByApiToken(db: Knex, token: string): Promise<{ user: UserRecord; tokenId: number } | null> {
  if (!token.startsWith(API_TOKEN_PREFIX)) return null;

  const row: { id: number; user_id: number } | undefined = await db('api_tokens')
    .join('users', 'users.id', 'api_tokens.user_id')
    .where('api_tokens.token_hash', hashApiToken(token))
    .whereNull('api_tokens.revoked_at')
    .where('users.active', true)
    .first('api_tokens.id', 'api_tokens.user_id');
  if (row === undefined) return null;

  await db('api_tokens')
    .where({ id: row.id })
    .where((query) => query.whereNull('last_used_at').orWhereRaw(`last_used_at < now() - interval '1 minute'`))
    .update({ last_used_at: db.fn.now() });

  const user = await findUserById(db, row.user_id);
  return user === null ? null : { user, tokenId: row.id };
}

/** Lists a user's tokens, revoked ones included, oldest first. */
export async function listApiTokens(db: Knex, userId: number): Promise<ApiTokenRecord[]> {
  const rows: ApiTokenRow[] = await db('api_tokens').where({ user_id: userId }).orderBy('id').select(listedColumns);
  return rows.map(toRecord);
}

/** Finds a token by id without its hash. */
export async function findApiToken(db: Knex, tokenId: number): Promise<ApiTokenRecord | null> {
  const row: ApiTokenRow | undefined = await db('api_tokens').where({ id: tokenId }).first(listedColumns);
  return row === undefined ? null : toRecord(row);
}

/** Revokes a token for good; returns false when it did not exist or was revoked already. */
export async function revokeApiToken(db: Knex, tokenId: number): Promise<boolean> {
  const updated = await db('api_tokens').where({ id: tokenId }).whereNull('revoked_at').update({ revoked_at: db.fn.now() });
  return updated > 0;
}
