import type { Knex } from 'knex';
import { createApiToken } from '../db/api-tokens.js';
import { createUser, findUserByAlias, updateUser } from '../db/users.js';

/** Alias of the admin the dev stack creates on its first start. */
export const FIRST_ADMIN_ALIAS = 'admin';

/**
 * Makes user `admin` an active admin and returns a new API token for it, on a database
 * without any active admin; otherwise returns null. The user is created when needed.
 * The caller shows the token once, because only its hash is stored. The advisory lock
 * keeps two starts from both creating a token.
 */
export async function ensureFirstAdmin(db: Knex): Promise<{ alias: string; token: string } | null> {
  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', ['mailqueue:first-admin']);
    const admin = await trx('users').where({ role: 'admin', active: true }).first('id');
    if (admin !== undefined) return null;

    const existing = await findUserByAlias(trx, FIRST_ADMIN_ALIAS);
    const user =
      existing === null
        ? await createUser(trx, { alias: FIRST_ADMIN_ALIAS, email: 'admin@mailqueue.invalid', name: 'Administrator', role: 'admin' })
        : await updateUser(trx, existing.id, { role: 'admin', active: true });
    const { token } = await createApiToken(trx, user.id, 'dev stack first start');
    return { alias: user.alias, token };
  });
}
