import { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import type { Logger } from 'pino';

import { queueSearchAttributeKeys } from '../workflows/search-attributes.js';
import { spawnManaged } from './child-process.js';
import { findFreePort } from './ports.js';
import { findTemporalCli } from './tools.js';

export interface TemporalDevServerOptions {
  /** SQLite file that keeps Temporal's state across restarts; omit for an in-memory server. */
  dbFile?: string;
  /** gRPC port on 127.0.0.1; 0 or undefined picks a free port. */
  port?: number;
  /** Web UI port; undefined picks a free port. Ignored when `headless`. */
  uiPort?: number;
  /** Run without the Web UI. Default false. */
  headless?: boolean;
  logger?: Logger;
}

export interface TemporalDevServer {
  /** gRPC address as `host:port`. */
  address: string;
  /** Web UI URL, or null when headless. */
  uiUrl: string | null;
  namespace: 'default';
  /** Sends SIGTERM, waits for the exit and sends SIGKILL after 10 s. */
  stop(): Promise<void>;
}

/** Time the dev server may take to respond to its first request, in milliseconds. */
const startTimeoutMs = 60_000;

type RegisterRequest = Parameters<Connection['operatorService']['addSearchAttributes']>[0];
type IndexedValueType = NonNullable<RegisterRequest['searchAttributes']>[string];

/**
 * Values of temporal.api.enums.v1.IndexedValueType (from @temporalio/proto 1.24.0) and the type
 * names of the CLI's `--search-attribute` flag, for each SearchAttributeType.
 */
const attributeTypes: Record<SearchAttributeType, { indexed: IndexedValueType; cliName: string }> = {
  [SearchAttributeType.TEXT]: { indexed: 1, cliName: 'Text' },
  [SearchAttributeType.KEYWORD]: { indexed: 2, cliName: 'Keyword' },
  [SearchAttributeType.INT]: { indexed: 3, cliName: 'Int' },
  [SearchAttributeType.DOUBLE]: { indexed: 4, cliName: 'Double' },
  [SearchAttributeType.BOOL]: { indexed: 5, cliName: 'Bool' },
  [SearchAttributeType.DATETIME]: { indexed: 6, cliName: 'Datetime' },
  [SearchAttributeType.KEYWORD_LIST]: { indexed: 7, cliName: 'KeywordList' },
};

/**
 * Starts `temporal server start-dev` on 127.0.0.1 and resolves once it responds to GetSystemInfo, with
 * the queue search attributes registered in the `default` namespace. Fails after 60 s with the end
 * of the server's output.
 */
export async function startTemporalDevServer(options: TemporalDevServerOptions = {}): Promise<TemporalDevServer> {
  const cli = findTemporalCli();
  const port = options.port === undefined || options.port === 0 ? await findFreePort() : options.port;
  const headless = options.headless === true;
  const uiPort = headless ? null : options.uiPort ?? (await findFreePort());

  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
  if (uiPort === null) {
    args.push('--headless');
  } else {
    // The news feed would make the browser fetch from temporal.io; the dev stack stays local.
    args.push('--ui-port', String(uiPort), '--ui-disable-news-fetch');
  }
  if (options.dbFile !== undefined) {
    args.push('--db-filename', options.dbFile);
  }
  for (const key of queueSearchAttributeKeys) {
    args.push('--search-attribute', `${key.name}=${attributeTypes[key.type].cliName}`);
  }

  const child = spawnManaged(cli, args);
  const address = `127.0.0.1:${port}`;
  try {
    await Promise.race([
      waitUntilServing(address),
      child.exited.then((code) => {
        throw new Error(`temporal exited with ${code} during start-up`);
      }),
    ]);
    await registerSearchAttributes(address, 'default');
  } catch (error) {
    await child.stop(2_000);
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`The Temporal dev server on ${address} did not start (${reason}); its output ends with:\n${child.outputTail()}`, { cause: error });
  }

  const uiUrl = uiPort === null ? null : `http://127.0.0.1:${uiPort}`;
  options.logger?.info({ address, uiUrl, dbFile: options.dbFile ?? null }, 'temporal dev server started');
  return {
    address,
    uiUrl,
    namespace: 'default',
    stop: async () => {
      await child.stop();
      options.logger?.info({ address }, 'temporal dev server stopped');
    },
  };
}

/** Polls until the server at `address` responds to GetSystemInfo, or throws after 60 s. */
async function waitUntilServing(address: string): Promise<void> {
  const deadline = Date.now() + startTimeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new Error(`no response to GetSystemInfo within ${startTimeoutMs} ms (last error: ${reason})`);
}

/**
 * Registers the queue search attributes (QueueNumber Int, QueueTitle Text, QueueActive Bool, QueueDegraded Bool) in
 * `namespace` on the Temporal server at `address`, through the operator service. Idempotent: it
 * adds only the missing ones. Needed even for the dev server, because `--search-attribute` does not
 * change a namespace that already exists in a persisted `--db-filename`. Throws when an attribute
 * exists with another type.
 */
export async function registerSearchAttributes(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const known: Record<string, IndexedValueType> = { ...existing.systemAttributes, ...existing.customAttributes };

    const missing: Record<string, IndexedValueType> = {};
    for (const key of queueSearchAttributeKeys) {
      const wanted = attributeTypes[key.type].indexed;
      const current = known[key.name];
      if (current === undefined) {
        missing[key.name] = wanted;
      } else if (current !== wanted) {
        throw new Error(
          `Search attribute ${key.name} exists in namespace ${namespace} with another type (IndexedValueType ${current}) but must be ${attributeTypes[key.type].cliName}: remove it with \`temporal operator search-attribute remove --name ${key.name}\` and start again`,
        );
      }
    }
    if (Object.keys(missing).length === 0) {
      return;
    }

    try {
      await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
    } catch (error) {
      // Another process may register them at the same moment.
      if (!isAlreadyExists(error)) {
        throw error;
      }
    }
  } finally {
    await connection.close();
  }
}

/** Checks for gRPC status ALREADY_EXISTS (6) or an "already exists" message. */
function isAlreadyExists(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) {
    return false;
  }
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === 6 || (typeof message === 'string' && /already exists/i.test(message));
}
