import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { pino } from 'pino';

import { startDovecot, type DovecotServer } from '../../src/dev/dovecot.js';
import { findFreePort } from '../../src/dev/ports.js';
import { findDovecot } from '../../src/dev/tools.js';
import { FailureType, MailqueueError } from '../../src/errors.js';
import { connectImap, type ImapMailbox } from '../../src/mail/imap.js';
import type { ImapConnectionSettings } from '../../src/mail/incoming.js';
import { appendMessages, listUids, recreateFolder } from '../support/imap-admin.js';

const password = 'correct horse';
const users = ['download', 'cursor', 'remove', 'validity', 'folders', 'tls'];
const silentLogger = pino({ level: 'silent' });

function dovecotMissingReason(): string | false {
  try {
    findDovecot();
    return false;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** Builds a small CRLF message whose 8-bit UTF-8 body line shows whether bytes pass through unchanged. */
function rawMessage(subject: string): Buffer {
  return Buffer.from(
    [
      'From: Customer <customer@example.test>',
      'To: support@example.test',
      `Subject: ${subject}`,
      `Message-ID: <${subject.replace(/\W/g, '-')}@example.test>`,
      'Date: Mon, 01 Jan 2024 10:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      `Body of ${subject}: Grüße, naïve café.`,
      '',
    ].join('\r\n'),
    'utf8',
  );
}

async function expectFailure(promise: Promise<unknown>, type: string): Promise<MailqueueError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof MailqueueError, `expected a MailqueueError, got ${String(error)}`);
  assert.equal(error.type, type, error.message);
  return error;
}

describe('IMAP adapter against Dovecot', { skip: dovecotMissingReason() }, () => {
  let workDir: string;
  let plainServer: DovecotServer;
  let tlsServer: DovecotServer;
  const open: ImapMailbox[] = [];

  function plainSettings(user: string): ImapConnectionSettings {
    return { host: '127.0.0.1', port: plainServer.imapPort, user, password, ssl: false, sslTrusted: true, timeoutMs: 10_000 };
  }

  async function connect(settings: ImapConnectionSettings): Promise<ImapMailbox> {
    const mailbox = await connectImap(settings, silentLogger);
    open.push(mailbox);
    return mailbox;
  }

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'mq-imap-'));
    // Dovecot's unprivileged processes must enter the directory; mkdtemp creates it with mode 0700.
    await chmod(workDir, 0o755);
    const accounts = users.map((user) => ({ user, password }));
    plainServer = await startDovecot({ dir: join(workDir, 'plain'), users: accounts });
    tlsServer = await startDovecot({ dir: join(workDir, 'tls'), users: accounts, tls: true });
  });

  after(async () => {
    await Promise.all(open.map((mailbox) => mailbox.logout()));
    await plainServer?.stop();
    await tlsServer?.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  test('plain login downloads exact bytes', async () => {
    const settings = plainSettings('download');
    const raws = [rawMessage('first question'), rawMessage('second question')];
    const uids = await appendMessages(settings, 'INBOX', raws);

    const mailbox = await connect(settings);
    const session = await mailbox.openFolder('INBOX');
    const listed = await session.listAfter(0);
    const fetched = await session.download(uids);
    await session.close();

    assert.deepEqual(listed, uids.map((uid, index) => ({ uid, size: raws[index].length })));
    assert.deepEqual(fetched.map((message) => message.uid), uids);
    assert.ok(fetched[0].raw.equals(raws[0]), 'first message bytes differ');
    assert.ok(fetched[1].raw.equals(raws[1]), 'second message bytes differ');
  });

  test('listAfter cursor returns newer UIDs', async () => {
    const settings = plainSettings('cursor');
    const uids = await appendMessages(settings, 'INBOX', [rawMessage('a'), rawMessage('b'), rawMessage('c')]);

    const mailbox = await connect(settings);
    const session = await mailbox.openFolder('INBOX');
    const newer = await session.listAfter(uids[0]);
    await session.close();

    assert.deepEqual(newer.map((message) => message.uid), uids.slice(1));
  });

  test('listAfter past last UID is empty', async () => {
    const settings = plainSettings('cursor');
    const uids = await listUids(settings, 'INBOX');
    assert.ok(uids.length > 0, 'the cursor mailbox should hold messages from the previous test');

    const mailbox = await connect(settings);
    const session = await mailbox.openFolder('INBOX');
    const newer = await session.listAfter(uids[uids.length - 1]);
    const downloadedMissing = await session.download([uids[uids.length - 1] + 100]);
    await session.close();

    assert.deepEqual(newer, []);
    assert.deepEqual(downloadedMissing, []);
  });

  test('delete removes only given UIDs', async () => {
    const settings = plainSettings('remove');
    const uids = await appendMessages(settings, 'INBOX', [rawMessage('keep 1'), rawMessage('drop'), rawMessage('keep 2'), rawMessage('drop 2')]);

    const mailbox = await connect(settings);
    const session = await mailbox.openFolder('INBOX');
    await session.delete([uids[1], uids[3]]);
    await session.close();

    assert.deepEqual(await listUids(settings, 'INBOX'), [uids[0], uids[2]]);
  });

  test('missing folder gives FolderNotFound', async () => {
    const mailbox = await connect(plainSettings('folders'));

    const error = await expectFailure(mailbox.openFolder('No Such Folder'), FailureType.FolderNotFound);

    assert.match(error.message, /No Such Folder/);
  });

  test('refused connection gives ConnectionFailed', async () => {
    const closedPort = await findFreePort();

    await expectFailure(connectImap({ ...plainSettings('download'), port: closedPort }, silentLogger), FailureType.ConnectionFailed);
  });

  test('silent server gives Timeout', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    assert.ok(address !== null, 'the server must be listening');
    assert.ok(typeof address === 'object', 'a TCP server has an object address');
    try {
      await expectFailure(connectImap({ ...plainSettings('download'), port: address.port, timeoutMs: 500 }, silentLogger), FailureType.Timeout);
    } finally {
      sockets.forEach((socket) => socket.destroy());
      silent.close();
    }
  });

  test('trusted TLS rejects self-signed certificate', async () => {
    const settings: ImapConnectionSettings = { ...plainSettings('tls'), port: tlsServer.imapsPort ?? 0, ssl: true, sslTrusted: true };

    const error = await expectFailure(connectImap(settings, silentLogger), FailureType.CertificateRejected);

    assert.match(error.message, /SSL trusted/);
  });

  test('untrusted TLS accepts self-signed certificate', async () => {
    const settings: ImapConnectionSettings = { ...plainSettings('tls'), port: tlsServer.imapsPort ?? 0, ssl: true, sslTrusted: false };

    const mailbox = await connect(settings);
    const session = await mailbox.openFolder('INBOX');
    await session.close();

    assert.equal(session.state.folder, 'INBOX');
  });

  test('STARTTLS verifies certificate when trusted', async () => {
    const settings: ImapConnectionSettings = { ...plainSettings('tls'), port: tlsServer.imapPort, ssl: false, sslTrusted: true };

    // A rejected certificate on the plain port proves that the client upgraded with STARTTLS.
    await expectFailure(connectImap(settings, silentLogger), FailureType.CertificateRejected);
  });

  test('STARTTLS with untrusted certificate works', async () => {
    const settings: ImapConnectionSettings = { ...plainSettings('tls'), port: tlsServer.imapPort, ssl: false, sslTrusted: false };
    const [uid] = await appendMessages(settings, 'INBOX', [rawMessage('over starttls')]);

    const mailbox = await connect(settings);
    const session = await mailbox.openFolder('INBOX');
    const listed = await session.listAfter(uid - 1);
    await session.close();

    assert.deepEqual(listed.map((message) => message.uid), [uid]);
  });

  test('recreated INBOX gets new UIDVALIDITY', async () => {
    const settings = plainSettings('validity');
    await appendMessages(settings, 'INBOX', [rawMessage('before rebuild')]);
    const first = await connectImap(settings, silentLogger);
    const before = (await first.openFolder('INBOX')).state;
    await first.logout();

    await recreateFolder(settings, 'INBOX', { mailRoot: plainServer.mailRoot('validity') });
    const second = await connect(settings);
    const afterState = (await second.openFolder('INBOX')).state;

    assert.notEqual(afterState.uidValidity, before.uidValidity);
    assert.equal(afterState.exists, 0);
  });

  test('recreated folder gets new UIDVALIDITY', async () => {
    const settings = plainSettings('folders');
    await recreateFolder(settings, 'Archive');
    await appendMessages(settings, 'Archive', [rawMessage('archived')]);
    const first = await connectImap(settings, silentLogger);
    const before = (await first.openFolder('Archive')).state;
    await first.logout();

    await recreateFolder(settings, 'Archive');
    const second = await connect(settings);
    const afterState = (await second.openFolder('Archive')).state;

    assert.notEqual(afterState.uidValidity, before.uidValidity);
    assert.equal(afterState.exists, 0);
  });

  // Last, because Dovecot delays further logins from 127.0.0.1 after a failed one (auth penalty).
  test('wrong password fails authentication', async () => {
    const wrongPassword = 'not-the-password-42';
    const error = await expectFailure(connectImap({ ...plainSettings('download'), password: wrongPassword }, silentLogger), FailureType.AuthenticationFailed);

    assert.ok(!error.message.includes(wrongPassword), 'the message must not contain the password');
    assert.ok(!JSON.stringify(error.details).includes(wrongPassword), 'the details must not contain the password');
    assert.match(error.message, /download on 127\.0\.0\.1:\d+/);
  });
});
