import { ImapFlow } from 'imapflow';

/** Appends one message to INBOX of a local plain-IMAP demo mailbox. */
export async function appendToMailbox(settings: { host: string; port: number; user: string; password: string }, raw: Buffer): Promise<void> {
  const client = new ImapFlow({ host: settings.host, port: settings.port, secure: false, auth: { user: settings.user, pass: settings.password }, logger: false });
  await client.connect();
  try {
    await client.append('INBOX', raw);
  } finally {
    await client.logout();
  }
}
