import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isProcessAlive } from './processes.js';

/** The lock a running dev stack holds on its state folder. */
export interface InstanceLock {
  release(): Promise<void>;
}

/**
 * Takes `<varDir>/dev.pid` for this process. A second dev stack on the same state folder
 * would take the first one's PostgreSQL for a leftover and stop it, so it is rejected
 * while the recorded process lives. A file left by a killed process is replaced.
 */
export async function lockStateFolder(varDir: string): Promise<InstanceLock> {
  const path = join(varDir, 'dev.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
      return { release: () => rm(path, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isProcessAlive(pid)) {
        throw new Error(`mailqueue dev is already running (process ${pid}) with its state in ${varDir}: stop it with Ctrl-C first, or set MAILQUEUE_VAR_DIR to another folder`);
      }
      await rm(path, { force: true });
    }
  }
  throw new Error(`Could not take ${path}: remove it if no mailqueue dev is running`);
}
