import type { Knex } from 'knex';

/**
 * Undoes the named migration and every later one, newest first, because later
 * migrations may build on it. Returns the names undone, newest first.
 */
export async function undoMigrationsFrom(db: Knex, name: string): Promise<string[]> {
  const [completed] = (await db.migrate.list()) as [Array<{ name: string }>, unknown[]];
  const names = completed.map((migration) => migration.name);
  const start = names.indexOf(name);
  if (start === -1) throw new Error(`Migration ${name} has not run: nothing to undo`);

  const undone = names.slice(start).reverse();
  for (const migration of undone) await db.migrate.down({ name: migration });
  return undone;
}
