import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';
import { findFreePort } from './ports.js';

/** One mail the sink received. */
export interface SunkMail {
  to: string[];
  subject: string;
  autoSubmitted: string | null;
}

export interface SmtpSink {
  host: '127.0.0.1';
  port: number;
  mails: SunkMail[];
  stop(): Promise<void>;
}

/**
 * Starts a plain SMTP server on a free 127.0.0.1 port that accepts every mail and
 * keeps only its recipients, subject and Auto-Submitted header, for the demo: the
 * queue's auto-responses go here instead of to real people.
 */
export async function startSmtpSink(): Promise<SmtpSink> {
  const mails: SunkMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          const header = parsed.headers.get('auto-submitted');
          mails.push({ to: session.envelope.rcptTo.map((recipient) => recipient.address), subject: parsed.subject ?? '', autoSubmitted: typeof header === 'string' ? header : null });
          callback();
        })
        .catch((error: unknown) => callback(error instanceof Error ? error : new Error(String(error))));
    },
  });
  const port = await findFreePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { host: '127.0.0.1', port, mails, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}
