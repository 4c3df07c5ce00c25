import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Connection } from '@temporalio/client';

import { spawnManaged } from '../../src/dev/child-process.js';
import { findFreePort } from '../../src/dev/ports.js';
import { registerSearchAttributes, startTemporalDevServer } from '../../src/dev/temporal-server.js';
import { findTemporalCli } from '../../src/dev/tools.js';

function temporalMissingReason(): string | false {
  try {
    findTemporalCli();
    return false;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** Returns the custom search attributes of `namespace` as name -> IndexedValueType number. */
async function customAttributes(address: string, namespace: string): Promise<Record<string, number>> {
  const connection = await Connection.connect({ address });
  try {
    const response = await connection.operatorService.listSearchAttributes({ namespace });
    return Object.fromEntries(Object.entries(response.customAttributes ?? {}).map(([name, type]) => [name, Number(type)]));
  } finally {
    await connection.close();
  }
}

async function waitForSystemInfo(address: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (error) {
      if (Date.now() > deadline) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

describe('Temporal dev server', { skip: temporalMissingReason() }, () => {
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'mq-temporal-'));
  });

  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  test('start registers queue search attributes', async () => {
    const dbFile = join(workDir, 'temporal.db');
    const server = await startTemporalDevServer({ dbFile, headless: true });
    try {
      const attributes = await customAttributes(server.address, server.namespace);
      // IndexedValueType: 1 Text, 3 Int, 5 Bool.
      assert.equal(attributes.QueueNumber, 3);
      assert.equal(attributes.QueueTitle, 1);
      assert.equal(attributes.QueueActive, 5);
      assert.equal(server.uiUrl, null);
    } finally {
      await server.stop();
    }
  });

  test('existing db gains search attributes', async () => {
    // A namespace persisted without the attributes: --search-attribute does not change it on the next start.
    const dbFile = join(workDir, 'bare.db');
    const port = await findFreePort();
    const bare = spawnManaged(findTemporalCli(), ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--db-filename', dbFile]);
    try {
      await waitForSystemInfo(`127.0.0.1:${port}`);
      assert.deepEqual(Object.keys(await customAttributes(`127.0.0.1:${port}`, 'default')).filter((name) => name.startsWith('Queue')), []);
    } finally {
      await bare.stop();
    }

    const server = await startTemporalDevServer({ dbFile, headless: true });
    try {
      const attributes = await customAttributes(server.address, 'default');
      assert.equal(attributes.QueueNumber, 3);
      assert.equal(attributes.QueueTitle, 1);
      assert.equal(attributes.QueueActive, 5);
      // A second registration finds them all and changes nothing.
      await registerSearchAttributes(server.address, 'default');
      assert.deepEqual(await customAttributes(server.address, 'default'), attributes);
    } finally {
      await server.stop();
    }
  });

  test('web UI gets its own port', async () => {
    const server = await startTemporalDevServer({});
    try {
      assert.match(server.uiUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
      const response = await fetch(server.uiUrl ?? '');
      assert.equal(response.ok, true);
    } finally {
      await server.stop();
    }
  });
});
