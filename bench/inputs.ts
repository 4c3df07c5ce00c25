/**
 * Finds the benchmark inputs: every `.eml` file under `../shared/corpus` and
 * `../shared/cases`, resolved from the repository root.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { repoRoot } from '../src/dev/tools.js';

/** One raw message read into memory before any timing starts. */
export interface BenchInput {
  /** Path relative to the shared folder, for messages. */
  label: string;
  raw: Buffer;
}

/** The shared test-data folder next to the repository. */
export const sharedRoot: string = resolve(repoRoot, '..', 'shared');

/** Maximum folder depth followed. The corpus is about six levels deep. */
const maxDepth = 12;

function listEmlFiles(directory: string, depth: number): string[] {
  if (depth > maxDepth) return [];
  const found: string[] = [];

  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) found.push(...listEmlFiles(path, depth + 1));
    else if (entry.isFile() && entry.name.endsWith('.eml')) found.push(path);
  }
  return found;
}

/**
 * Reads every `.eml` file of the shared corpus and cases, sorted by path so every run
 * uses the same order. Returns null when `../shared` does not exist, so the caller can
 * skip the benchmarks that need it.
 */
export function loadSharedInputs(): BenchInput[] | null {
  if (!existsSync(sharedRoot)) return null;

  const paths = ['corpus', 'cases']
    .map((folder) => join(sharedRoot, folder))
    .filter((folder) => existsSync(folder))
    .flatMap((folder) => listEmlFiles(folder, 0))
    .sort();

  return paths.map((path) => ({ label: relative(sharedRoot, path), raw: readFileSync(path) }));
}
