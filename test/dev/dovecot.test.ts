import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startDovecot, type DovecotServer } from '../../src/dev/dovecot.js';
import { waitForGreeting } from '../../src/dev/ports.js';
import { findDovecot } from '../../src/dev/tools.js';

function dovecotMissingReason(): string | false {
  try {
    findDovecot();
    return false;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

describe('local Dovecot', { skip: dovecotMissingReason() }, () => {
  let workDir: string;
  let server: DovecotServer;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'mq-dovecot-'));
    // Dovecot's unprivileged processes must enter the directory; mkdtemp creates it with mode 0700.
    await chmod(workDir, 0o755);
    server = await startDovecot({ dir: join(workDir, 'd'), users: [{ user: 'agent', password: 'pw' }], pop3: true, tls: true });
  });

  after(async () => {
    await server?.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  test('POP3 listener sends greeting', async () => {
    assert.ok(server.pop3Port !== null, 'pop3: true must open a POP3 port');

    const greeting = await waitForGreeting(server.host, server.pop3Port, 5_000);

    assert.match(greeting, /^\+OK/);
  });

  test('second instance runs alongside', async () => {
    const second = await startDovecot({ dir: join(workDir, 'e'), users: [{ user: 'agent', password: 'pw' }] });
    try {
      assert.notEqual(second.imapPort, server.imapPort);
      assert.match(await waitForGreeting(second.host, second.imapPort, 5_000), /^\* OK/);
      assert.match(await waitForGreeting(server.host, server.imapPort, 5_000), /^\* OK/);
    } finally {
      await second.stop();
    }
  });

  test('stop closes the IMAP port', async () => {
    const third = await startDovecot({ dir: join(workDir, 'f'), users: [{ user: 'agent', password: 'pw' }] });
    await third.stop();

    await assert.rejects(waitForGreeting(third.host, third.imapPort, 300), /No greeting/);
  });

  test('colon in password is rejected', async () => {
    await assert.rejects(startDovecot({ dir: join(workDir, 'g'), users: [{ user: 'agent', password: 'a:b' }] }), /contains ':'/);
  });
});
