import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * Throws when a directory above `path` denies search permission to other users, as directories
 * from `mkdtemp` do (mode 0700). Servers started as root drop to their own system user (Dovecot's
 * `dovecot`, PostgreSQL's `postgres`), which must still reach their files. Missing directories are
 * skipped because the caller creates them.
 */
export async function assertAncestorsTraversable(path: string, serverName: string): Promise<void> {
  const absolute = resolve(path);
  for (let current = dirname(absolute); current !== dirname(current); current = dirname(current)) {
    const mode = await stat(current).then((stats) => stats.mode, () => null);
    if (mode !== null && (mode & 0o001) === 0) {
      throw new Error(
        `${serverName} runs as its own system user and cannot enter ${current} (mode ${(mode & 0o777).toString(8)}): run \`chmod o+x ${current}\` or choose a directory elsewhere`,
      );
    }
  }
}
