import type { AddressInfo } from 'node:net';

import { SMTPServer } from 'smtp-server';

import { createSelfSignedCertificate } from '../../src/dev/self-signed-cert.js';

/** One mail as the capture server received it. */
export interface CapturedMail {
  envelope: { from: string; to: string[] };
  /** The DATA bytes after dot-unstuffing, without the terminating ".". */
  raw: Buffer;
  authenticatedUser: string | null;
  /** True when the mail came over TLS (implicit or after STARTTLS). */
  secure: boolean;
}

export interface CaptureSmtpServerOptions {
  /**
   * `starttls`: plain listener offering STARTTLS, AUTH only after it (a submission port double).
   * `implicit-tls`: TLS from the first byte. `plain`: no TLS at all.
   */
  mode: 'starttls' | 'implicit-tls' | 'plain';
  /** Credentials that AUTH accepts. Without them AUTH is neither offered nor required. */
  auth?: { user: string; password: string };
  /** PEM key and certificate, or a fresh self-signed pair when unset. */
  cert?: { key: string; cert: string };
  /** Returns an SMTP error reply for RCPT TO of `address`, or null to accept it. */
  rejectRecipient?: (address: string) => { code: number; message: string } | null;
  /** Port on 127.0.0.1. 0 or unset picks a free one. */
  port?: number;
}

export interface CaptureSmtpServer {
  host: '127.0.0.1';
  port: number;
  messages: CapturedMail[];
  /** Resolves with all captured mails once there are at least `count`, or rejects after `timeoutMs` (default 5000). */
  waitForMessages(count: number, timeoutMs?: number): Promise<CapturedMail[]>;
  close(): Promise<void>;
}

/** Creates an Error that smtp-server sends as an SMTP reply with `code`. */
function smtpReply(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

/**
 * Starts a real SMTP server (smtp-server) on 127.0.0.1 that stores every mail it accepts.
 * For tests only: credentials are compared in plain text and nothing is persisted.
 */
export async function startCaptureSmtpServer(options: CaptureSmtpServerOptions): Promise<CaptureSmtpServer> {
  const tlsPair = options.mode === 'plain' ? null : (options.cert ?? (await createSelfSignedCertificate()));
  const messages: CapturedMail[] = [];
  const listeners = new Set<() => void>();

  const disabledCommands: string[] = [];
  if (options.mode === 'plain') {
    disabledCommands.push('STARTTLS');
  }
  if (!options.auth) {
    disabledCommands.push('AUTH');
  }

  const server = new SMTPServer({
    secure: options.mode === 'implicit-tls',
    ...(tlsPair ? { key: tlsPair.key, cert: tlsPair.cert } : {}),
    disabledCommands,
    authOptional: !options.auth,
    // While STARTTLS is offered, smtp-server rejects AUTH before it with 538. A plain-mode server
    // offers no STARTTLS, so AUTH works there without TLS.
    allowInsecureAuth: false,
    disableReverseLookup: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.password) {
        callback(null, { user: auth.username });
        return;
      }
      callback(smtpReply(535, 'Authentication credentials invalid'));
    },
    onRcptTo(address, _session, callback) {
      const rejection = options.rejectRecipient?.(address.address) ?? null;
      callback(rejection ? smtpReply(rejection.code, rejection.message) : null);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (error: Error) => callback(error));
      stream.on('end', () => {
        const user: unknown = session.user;
        const mailFrom = session.envelope.mailFrom;
        messages.push({
          envelope: {
            from: mailFrom === false ? '' : mailFrom.address,
            to: session.envelope.rcptTo.map((recipient) => recipient.address),
          },
          raw: Buffer.concat(chunks),
          authenticatedUser: typeof user === 'string' ? user : null,
          secure: session.secure,
        });
        for (const listener of listeners) {
          listener();
        }
        callback(null, 'Ok: captured');
      });
    },
  });

  // Client-side failures such as a rejected certificate also surface here. They are not fatal for
  // the server because each test asserts on what the client reports.
  server.on('error', () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;

  return {
    host: '127.0.0.1',
    port,
    messages,
    waitForMessages(count: number, timeoutMs = 5000): Promise<CapturedMail[]> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (messages.length >= count) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve([...messages]);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`Capture SMTP server on port ${port} received ${messages.length} of ${count} expected mails within ${timeoutMs} ms.`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    close(): Promise<void> {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
