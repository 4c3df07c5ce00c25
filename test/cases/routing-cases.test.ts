import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { repoRoot } from '../../src/dev/tools.js';

const execFileAsync = promisify(execFile);
const runner = fileURLToPath(new URL('./run-cases.js', import.meta.url));
const samplesDir = join(repoRoot, 'test', 'cases', 'routing-samples');

// Plays the routing sample cases with the runner of `npm run cases`, so the runner's
// routing keys (config.routing_rules, category, priority, ticket_fields,
// routing_rules_matched) are themselves checked against a real queue.
test('routing sample cases pass', { timeout: 300_000 }, async () => {
  const { stdout } = await execFileAsync(process.execPath, [runner, samplesDir], {
    env: { ...process.env, TEST_LOG_LEVEL: 'error' },
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
    assert.fail(`case runner failed: ${error.message}\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
  });

  const lines = stdout.split('\n').filter((line) => /^\S+ (pass$|pass \(|FAIL: )/.test(line));
  assert.deepEqual(lines, ['invoice-to-accounting pass']);
  assert.match(stdout, /^1 passed, 0 failed$/m);
});
