import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled CLI entry point, found from this file in dist/test/client/. */
export const cliPath = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'client', 'main.js');

/** Variables that must come from the test, never from the shell that runs it. */
const mailqueueVariables = ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'MAILQUEUE_SECRET_KEY', 'MAILQUEUE_VAR_DIR', 'MAILQUEUE_OAUTH_CA_FILE', 'LOG_LEVEL'];

/**
 * Builds the environment for a CLI child process: the parent's, without any mailqueue
 * setting, plus `settings`. MAILQUEUE_VAR_DIR points at a folder without `dev.env`, so a dev stack
 * running on this machine cannot fill in what a test left out on purpose.
 */
export function mailqueueEnvironment(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of mailqueueVariables) delete env[name];
  return { ...env, MAILQUEUE_VAR_DIR: join(tmpdir(), 'mailqueue-cli-test-no-dev-stack'), ...settings };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `mailqueue <args>` to completion and returns its exit code and output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [cliPath, ...args], { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      let code = 0;
      if (error !== null) {
        code = typeof error.code === 'number' ? error.code : 1;
      }
      resolvePromise({ code, stdout, stderr });
    });
  });
}
