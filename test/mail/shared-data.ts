import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repo root, found from the compiled test file in dist/test/mail/. */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The shared test data folder (`../shared` next to the repo), or null when it is absent. */
export const sharedRoot: string | null = existsSync(resolve(repoRoot, '..', 'shared')) ? resolve(repoRoot, '..', 'shared') : null;

/** The reason given to `skip` when the shared data folder is missing. */
export const noSharedData = `test data folder ${resolve(repoRoot, '..', 'shared')} not found; skipping`;

/** Reads one file under the shared folder, e.g. `caseFile('C20', '1.eml')`. */
export function caseFile(caseId: string, file: string): Buffer {
  if (sharedRoot === null) throw new Error(noSharedData);
  return readFileSync(join(sharedRoot, 'cases', caseId, file));
}

/** Reads and parses the `expected.json` of a case. */
export function caseExpected(caseId: string): Record<string, unknown> {
  return JSON.parse(caseFile(caseId, 'expected.json').toString('utf8')) as Record<string, unknown>;
}
