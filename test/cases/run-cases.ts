/**
 * Plays failure-case folders through the real path. Each input is appended to a
 * mailbox on a local Dovecot, and the queue workflow (Temporal dev server, real worker)
 * fetches and threads it into PostgreSQL. The outcome is compared with the case's
 * expected.json. Prints one line per case and a total.
 *
 * Usage: npm run cases -- [DIR] [--only C01,C02]
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { repoRoot } from '../../src/dev/tools.js';
import { playCase, type CaseOutcome } from './play-case.js';
import { startCaseEnvironment } from './case-environment.js';

function parseArguments(argv: string[]): { dir: string; only: Set<string> | null } {
  let dir = join(repoRoot, '..', 'shared', 'cases');
  let only: Set<string> | null = null;
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index];
    if (argument === '--only') {
      only = new Set((argv[++index] ?? '').split(',').filter((name) => name !== ''));
    } else {
      dir = resolve(argument);
    }
  }
  return { dir, only };
}

async function main(): Promise<void> {
  const { dir, only } = parseArguments(process.argv.slice(2));
  if (!existsSync(dir)) {
    throw new Error(`Case folder ${dir} does not exist: pass the folder that holds the case directories`);
  }
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, 'expected.json')))
    .map((entry) => entry.name)
    .filter((name) => only === null || only.has(name))
    .sort();
  if (names.length === 0) {
    throw new Error(`No case folders with expected.json under ${dir}`);
  }

  const environment = await startCaseEnvironment();
  const outcomes: CaseOutcome[] = [];
  try {
    for (const [index, name] of names.entries()) {
      const expected = JSON.parse(await readFile(join(dir, name, 'expected.json'), 'utf8'));
      const outcome = await playCase(environment, { name, dir: join(dir, name), index, expected });
      outcomes.push(outcome);
      const unchecked = outcome.unchecked.length > 0 ? ` (not checked: ${outcome.unchecked.join(', ')})` : '';
      process.stdout.write(outcome.failures.length === 0 ? `${name} pass${unchecked}\n` : `${name} FAIL: ${outcome.failures.join('; ')}${unchecked}\n`);
    }
  } finally {
    await environment.stop();
  }

  const failed = outcomes.filter((outcome) => outcome.failures.length > 0).length;
  process.stdout.write(`${outcomes.length - failed} passed, ${failed} failed\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((error: unknown) => {
  process.stderr.write(`cases: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
