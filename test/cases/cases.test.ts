import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { noSharedData, sharedRoot } from '../mail/shared-data.js';

const execFileAsync = promisify(execFile);
const runner = fileURLToPath(new URL('./run-cases.js', import.meta.url));
const casesDir = sharedRoot === null ? null : join(sharedRoot, 'cases');

// Plays every failure case through the real path (Dovecot, queue workflow, PostgreSQL,
// SMTP) with the same runner as `npm run cases`, so a regression fails the suite.
test('every failure case passes', { skip: casesDir === null || !existsSync(casesDir) ? noSharedData : false, timeout: 600_000 }, async () => {
  const { stdout } = await execFileAsync(process.execPath, [runner, casesDir ?? ''], {
    env: { ...process.env, TEST_LOG_LEVEL: 'error' },
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
    assert.fail(`case runner failed: ${error.message}\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
  });

  const lines = stdout.split('\n').filter((line) => /^\S+ (pass$|pass \(|FAIL: )/.test(line));
  const failed = lines.filter((line) => line.includes(' FAIL'));
  assert.deepEqual(failed, []);
  assert.ok(lines.length > 0, 'the runner reported no case');
  assert.match(stdout, new RegExp(`^${lines.length} passed, 0 failed$`, 'm'));
  const unchecked = lines.filter((line) => line.includes('not checked'));
  assert.deepEqual(unchecked, []);
});
