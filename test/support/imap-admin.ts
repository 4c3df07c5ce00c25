import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { ImapFlow } from 'imapflow';

import type { ImapConnectionSettings } from '../../src/mail/incoming.js';

/** Opens an admin connection for test set-up, independent of the adapter under test. */
async function withClient<T>(settings: ImapConnectionSettings, work: (client: ImapFlow) => Promise<T>): Promise<T> {
  const client = new ImapFlow({
    host: settings.host,
    port: settings.port,
    secure: settings.ssl,
    auth: { user: settings.user, pass: settings.password },
    tls: settings.sslTrusted ? {} : { rejectUnauthorized: false },
    logger: false,
    disableAutoIdle: true,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.logout().catch(() => client.close());
  }
}

/** Appends raw messages to `folder` in order and returns their UIDs (needs UIDPLUS, which Dovecot has). */
export async function appendMessages(settings: ImapConnectionSettings, folder: string, raws: Buffer[]): Promise<number[]> {
  return withClient(settings, async (client) => {
    const uids: number[] = [];
    for (const raw of raws) {
      const result = await client.append(folder, raw);
      if (result === false || result.uid === undefined) {
        throw new Error(`APPEND to ${folder} returned no UID: the server lacks UIDPLUS`);
      }
      uids.push(result.uid);
    }
    return uids;
  });
}

/** Returns the UIDs in `folder`, ascending. */
export async function listUids(settings: ImapConnectionSettings, folder: string): Promise<number[]> {
  return withClient(settings, async (client) => {
    const lock = await client.getMailboxLock(folder);
    try {
      if (client.mailbox === false || client.mailbox.exists === 0) {
        return [];
      }
      const messages = await client.fetchAll('1:*', { uid: true });
      return messages.map((message) => message.uid).sort((a, b) => a - b);
    } finally {
      lock.release();
    }
  });
}

export interface RecreateFolderOptions {
  /**
   * The user's maildir root on the local Dovecot (`DovecotServer.mailRoot(user)`); required for INBOX.
   */
  mailRoot?: string;
}

/**
 * Empties `folder` and makes the server give it a new UIDVALIDITY, as when a mailbox is rebuilt.
 *
 * Other folders are deleted (when they exist) and created again over IMAP. INBOX cannot be deleted in IMAP, so its
 * messages are expunged and Dovecot's `dovecot-uidlist` and index files are removed from the
 * maildir root: the next SELECT builds a new uidlist with a new UIDVALIDITY. For INBOX no other
 * session may be open on that mailbox while this runs.
 */
export async function recreateFolder(settings: ImapConnectionSettings, folder: string, options: RecreateFolderOptions = {}): Promise<void> {
  if (folder.toUpperCase() !== 'INBOX') {
    await withClient(settings, async (client) => {
      const existing = await client.list();
      if (existing.some((mailbox) => mailbox.path === folder)) {
        await client.mailboxDelete(folder);
      }
      await client.mailboxCreate(folder);
    });
    return;
  }

  if (options.mailRoot === undefined) {
    throw new Error('recreateFolder(INBOX) needs options.mailRoot: pass DovecotServer.mailRoot(user)');
  }
  await withClient(settings, async (client) => {
    const lock = await client.getMailboxLock('INBOX');
    try {
      if (client.mailbox !== false && client.mailbox.exists > 0) {
        await client.messageDelete('1:*');
      }
    } finally {
      lock.release();
    }
  });

  const mailRoot = options.mailRoot;
  const entries = await readdir(mailRoot);
  const indexFiles = entries.filter((name) => name === 'dovecot-uidlist' || name.startsWith('dovecot.index'));
  await Promise.all(indexFiles.map((name) => rm(join(mailRoot, name), { force: true })));
}
