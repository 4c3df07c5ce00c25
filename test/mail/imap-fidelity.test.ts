import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { connectImap, differsOnlyByNul } from '../../src/mail/imap.js';
import type { ImapConnectionSettings } from '../../src/mail/incoming.js';
import { startTestDovecot, testLogger, type TestMailServer } from '../support/environment.js';
import { appendMessages, listUids } from '../support/imap-admin.js';

const password = 'fidelity-password';

function message(subject: string, bodyLine: Buffer): Buffer {
  const header = Buffer.from(
    [
      'From: Batch Runner <batch@jobs.example.org>',
      'To: support@example.test',
      `Subject: ${subject}`,
      `Message-ID: <${subject.replace(/\W/g, '-')}@jobs.example.org>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      '',
    ].join('\r\n'),
  );
  return Buffer.concat([header, bodyLine, Buffer.from('\r\n')]);
}

describe('IMAP download fidelity and moving', () => {
  let mail: TestMailServer;
  let settings: (user: string) => ImapConnectionSettings;

  before(async () => {
    mail = await startTestDovecot([
      { user: 'nul', password },
      { user: 'move', password },
    ]);
    settings = (user) => ({ host: mail.dovecot.host, port: mail.dovecot.imapPort, user, password, ssl: false, sslTrusted: true });
  });

  after(async () => {
    await mail?.stop();
  });

  test('differsOnlyByNul accepts only NUL restorations', () => {
    assert.equal(differsOnlyByNul(Buffer.from([1, 0x80, 2]), Buffer.from([1, 0x00, 2])), true);
    assert.equal(differsOnlyByNul(Buffer.from([1, 0x80, 2]), Buffer.from([1, 0x80, 2])), false);
    assert.equal(differsOnlyByNul(Buffer.from([1, 0x81, 2]), Buffer.from([1, 0x00, 2])), false);
    assert.equal(differsOnlyByNul(Buffer.from([1, 0x80]), Buffer.from([1, 0x00, 2])), false);
  });

  test('NUL bytes arrive as sent', async () => {
    const withNul = message('nul byte', Buffer.from([0x52, 0x6f, 0x77, 0x3a, 0x00, 0x3c, 0x2d]));
    const latin = message('latin byte', Buffer.from([0x63, 0x61, 0x66, 0x80, 0xe9]));
    await appendMessages(settings('nul'), 'INBOX', [withNul, latin]);

    const mailbox = await connectImap(settings('nul'), testLogger);
    try {
      const session = await mailbox.openFolder('INBOX');
      try {
        const sizes = await session.listAfter(0);
        const downloaded = await session.download(sizes.map((entry) => entry.uid));
        assert.equal(downloaded.length, 2);
        assert.deepEqual(downloaded[0].raw, withNul);
        assert.deepEqual(downloaded[1].raw, latin);
      } finally {
        await session.close();
      }
    } finally {
      await mailbox.logout();
    }
  });

  test('move creates the folder and moves', async () => {
    const uids = await appendMessages(settings('move'), 'INBOX', [message('first', Buffer.from('one')), message('second', Buffer.from('two')), message('third', Buffer.from('three'))]);

    const mailbox = await connectImap(settings('move'), testLogger);
    try {
      const session = await mailbox.openFolder('INBOX');
      try {
        await session.move(uids.slice(0, 2), 'Processed');
      } finally {
        await session.close();
      }
    } finally {
      await mailbox.logout();
    }

    assert.deepEqual(await listUids(settings('move'), 'INBOX'), [uids[2]]);
    assert.equal((await listUids(settings('move'), 'Processed')).length, 2);
  });
});
