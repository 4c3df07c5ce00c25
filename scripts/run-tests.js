// Runs every compiled test file (dist/test/**/*.test.js) with Node's test runner, one file at a
// time because the tests start real servers on a 2-core machine. `npm test` builds first.
// Output: the spec reporter's report, then the runner's TAP summary lines (# tests, # pass, # fail, ...).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const testRoot = join(repoRoot, 'dist', 'test');

/** Returns the paths of all `*.test.js` files under `directory`, sorted. */
function findTestFiles(directory) {
  const found = [];
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) {
      found.push(...findTestFiles(path));
    } else if (entry.isFile() && entry.name.endsWith('.test.js')) {
      found.push(path);
    }
  }
  return found.sort();
}

if (!existsSync(testRoot)) {
  console.error(`${relative(repoRoot, testRoot)} does not exist: run \`npm run build\` first (npm test does).`);
  process.exit(1);
}
const files = findTestFiles(testRoot);
if (files.length === 0) {
  console.error(`No *.test.js files under ${relative(repoRoot, testRoot)}: check that the build compiled test/.`);
  process.exit(1);
}

// The spec reporter writes no "# pass N" lines, so a TAP copy is written to a file for the summary.
const tapDir = mkdtempSync(join(tmpdir(), 'mailqueue-tap-'));
const tapFile = join(tapDir, 'report.tap');
const args = [
  '--test',
  '--test-concurrency=1',
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  '--test-reporter=tap',
  `--test-reporter-destination=${tapFile}`,
  ...files.map((file) => relative(repoRoot, file)),
];

const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  const summaryPattern = /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /;
  const summary = existsSync(tapFile)
    ? readFileSync(tapFile, 'utf8').split('\n').filter((line) => summaryPattern.test(line))
    : [];
  rmSync(tapDir, { recursive: true, force: true });
  if (summary.length > 0) {
    console.log(`\n${summary.join('\n')}`);
  }
  process.exit(code ?? (signal === null ? 1 : 128));
});
