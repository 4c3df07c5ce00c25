import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { FailureType, MailqueueError, type FailureTypeName } from '../errors.js';
import { logger as rootLogger } from '../logger.js';
import { deliveredToAddresses } from './mime-headers.js';
import type { DownloadedSourceMessage, MailSource, SourceListing, SourceMessageRef } from './mail-source.js';

/**
 * A small POP3 client (RFC 1939, with UIDL, CAPA and STLS of RFC 2449 and 2595) and the
 * `MailSource` built on it. Written here rather than taken from npm: the candidates (node-pop3,
 * yapople, poplib) either decode messages to strings, which breaks byte fidelity of 8-bit mail,
 * or have had no release in years.
 */

/** Connection settings with the password already decrypted. Lives only inside an activity. */
export interface Pop3ConnectionSettings {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Implicit TLS (port 995). When false, STLS is used if the server offers it. */
  ssl: boolean;
  /** When false, certificates that do not verify are accepted (with a warning). */
  sslTrusted: boolean;
  /** Timeout for connecting and for each response, in milliseconds; default 60 s. */
  timeoutMs?: number;
  /** Extra trusted CA certificates (PEM), for tests with a self-signed server. */
  ca?: string;
}

const defaultTimeoutMs = 60_000;
const CRLF = Buffer.from('\r\n');
const TERMINATOR = Buffer.from('\r\n.\r\n');

const certificateErrorCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Removes the leading dot the server added to lines starting with "." (RFC 1939 section 3). */
export function unstuffDots(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let lineStart = 0;
  let copyFrom = 0;
  while (lineStart < body.length) {
    if (body[lineStart] === 0x2e) {
      parts.push(body.subarray(copyFrom, lineStart));
      copyFrom = lineStart + 1;
    }
    const end = body.indexOf(CRLF, lineStart);
    if (end === -1) break;
    lineStart = end + 2;
  }
  parts.push(body.subarray(copyFrom));
  return Buffer.concat(parts);
}

interface Answer {
  ok: boolean;
  /** The status line after +OK or -ERR. */
  text: string;
  /** Dot-unstuffed body of a multi-line response, without the terminating line. */
  body: Buffer | null;
}

/** One POP3 session. Commands are sent one at a time, and each method waits for its response. */
export class Pop3Client {
  private socket: Socket | TLSSocket;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: { multiline: boolean; resolve: (answer: Answer) => void; reject: (error: Error) => void } | null = null;
  private failure: Error | null = null;
  private closed = false;

  private constructor(
    socket: Socket | TLSSocket,
    private readonly settings: Pop3ConnectionSettings,
    private readonly log: Logger,
  ) {
    this.socket = socket;
    this.attach(socket);
  }

  /**
   * Connects, reads the greeting, secures the session (implicit TLS, or STLS when offered) and
   * logs in with USER/PASS. Throws MailqueueError: ConnectionFailed, CertificateRejected, Timeout,
   * AuthenticationFailed (never quoting the password) or ProtocolError.
   */
  static async connect(settings: Pop3ConnectionSettings, logger: Logger = rootLogger): Promise<Pop3Client> {
    const log = logger.child({ component: 'pop3', host: settings.host, port: settings.port, user: settings.user });
    if (!settings.sslTrusted) log.warn({ host: settings.host, port: settings.port }, 'pop3 accepts unverified tls certificates');

    const socket = await openSocket(settings);
    const client = new Pop3Client(socket, settings, log);
    try {
      const greeting = await client.read(false);
      if (!greeting.ok) throw client.protocolError(`greeted with -ERR ${greeting.text}`);

      if (!settings.ssl) {
        const capabilities = await client.send('CAPA', true);
        const offersStls = capabilities.ok && capabilities.body !== null && /^STLS\s*$/im.test(capabilities.body.toString('latin1'));
        if (offersStls) await client.startTls();
        else log.warn({ host: settings.host, port: settings.port }, 'pop3 server offers no STLS; the login is sent without tls');
      }

      const user = await client.send(`USER ${settings.user}`, false);
      const pass = user.ok ? await client.send(`PASS ${settings.password}`, false) : user;
      if (!pass.ok) {
        throw new MailqueueError(FailureType.AuthenticationFailed, `POP3 login failed for user ${settings.user} on ${settings.host}:${settings.port}: check the login name and password`, { host: settings.host, port: settings.port, user: settings.user });
      }
      log.debug('pop3 logged in');
      return client;
    } catch (error) {
      client.destroy();
      throw error;
    }
  }

  /** Message numbers mapped to their unique ids (UIDL). */
  async uidl(): Promise<Map<number, string>> {
    const answer = await this.require('UIDL', true);
    const ids = new Map<number, string>();
    for (const line of lines(answer.body)) {
      const match = /^(\d+)\s+(\S+)$/.exec(line);
      if (!match) throw this.protocolError(`sent an unreadable UIDL line "${line.slice(0, 80)}"`);
      ids.set(Number(match[1]), match[2]);
    }
    return ids;
  }

  /** Message numbers mapped to their sizes in bytes (LIST). */
  async list(): Promise<Map<number, number>> {
    const answer = await this.require('LIST', true);
    const sizes = new Map<number, number>();
    for (const line of lines(answer.body)) {
      const match = /^(\d+)\s+(\d+)/.exec(line);
      if (!match) throw this.protocolError(`sent an unreadable LIST line "${line.slice(0, 80)}"`);
      sizes.set(Number(match[1]), Number(match[2]));
    }
    return sizes;
  }

  /** Downloads the raw message byte for byte with CRLF line ends; null when the server no longer has it. */
  async retrieve(messageNumber: number): Promise<Buffer | null> {
    const answer = await this.send(`RETR ${messageNumber}`, true);
    if (!answer.ok) return null;
    return answer.body ?? Buffer.alloc(0);
  }

  /** Marks a message deleted; the server removes it only when QUIT succeeds. */
  async delete(messageNumber: number): Promise<void> {
    await this.require(`DELE ${messageNumber}`, false);
  }

  /** Ends the session: the server commits deletions. Safe to call twice. */
  async quit(): Promise<void> {
    if (this.closed) return;
    try {
      await this.require('QUIT', false);
    } finally {
      this.destroy();
    }
  }

  /** Drops the connection without QUIT, so the server discards every DELE of this session. */
  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.setTimeout(this.settings.timeoutMs ?? defaultTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.drain();
    });
    socket.on('timeout', () => this.fail(new MailqueueError(FailureType.Timeout, `POP3 server ${this.where()} did not respond within ${this.settings.timeoutMs ?? defaultTimeoutMs} ms: check the server and the network`, this.details())));
    socket.on('error', (error: Error) => this.fail(translateSocketError(error, this.settings)));
    socket.on('close', () => this.fail(new MailqueueError(FailureType.ConnectionFailed, `POP3 server ${this.where()} closed the connection`, this.details())));
  }

  private async startTls(): Promise<void> {
    await this.require('STLS', false);
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('timeout');
    plain.removeAllListeners('error');
    plain.removeAllListeners('close');
    plain.setTimeout(0);
    this.socket = await new Promise<TLSSocket>((resolve, reject) => {
      const secured = connectTls({ socket: plain, servername: this.settings.host, rejectUnauthorized: this.settings.sslTrusted, ca: this.settings.ca });
      secured.once('secureConnect', () => resolve(secured));
      secured.once('error', (error) => reject(translateSocketError(error, this.settings)));
    });
    this.attach(this.socket);
  }

  private where(): string {
    return `${this.settings.host}:${this.settings.port}`;
  }

  private details(): Record<string, unknown> {
    return { host: this.settings.host, port: this.settings.port };
  }

  private protocolError(what: string): MailqueueError {
    return new MailqueueError(FailureType.ProtocolError, `POP3 server ${this.where()} ${what}; check that host and port belong to a POP3 server`, this.details());
  }

  private fail(error: Error): void {
    if (this.failure === null) this.failure = error;
    const pending = this.pending;
    this.pending = null;
    if (pending !== null) pending.reject(error);
  }

  private read(multiline: boolean): Promise<Answer> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise<Answer>((resolve, reject) => {
      this.pending = { multiline, resolve, reject };
      this.drain();
    });
  }

  private async send(command: string, multiline: boolean): Promise<Answer> {
    if (this.failure !== null) throw this.failure;
    const answer = this.read(multiline);
    this.socket.write(`${command}\r\n`);
    return answer;
  }

  private async require(command: string, multiline: boolean): Promise<Answer> {
    const answer = await this.send(command, multiline);
    if (!answer.ok) {
      // The command word only: the arguments of USER and PASS are never quoted.
      throw this.protocolError(`rejected ${command.split(' ')[0]} (-ERR ${answer.text})`);
    }
    return answer;
  }

  /** Completes the pending read once its whole response has arrived. */
  private drain(): void {
    const pending = this.pending;
    if (pending === null) return;
    const statusEnd = this.buffer.indexOf(CRLF);
    if (statusEnd === -1) return;
    const status = this.buffer.subarray(0, statusEnd).toString('latin1');
    const ok = status.startsWith('+OK');
    if (!ok && !status.startsWith('-ERR')) {
      this.pending = null;
      pending.reject(this.protocolError(`sent "${status.slice(0, 80)}" instead of +OK or -ERR`));
      return;
    }
    const text = status.replace(/^(\+OK|-ERR)\s?/, '');

    if (!pending.multiline || !ok) {
      this.buffer = this.buffer.subarray(statusEnd + 2);
      this.pending = null;
      pending.resolve({ ok, text, body: null });
      return;
    }

    // Searching from the status line's own CRLF also finds the terminator of an empty body.
    const terminator = this.buffer.indexOf(TERMINATOR, statusEnd);
    if (terminator === -1) return;
    const body = terminator + 2 > statusEnd + 2 ? this.buffer.subarray(statusEnd + 2, terminator + 2) : Buffer.alloc(0);
    this.buffer = this.buffer.subarray(terminator + TERMINATOR.length);
    this.pending = null;
    pending.resolve({ ok, text, body: unstuffDots(Buffer.from(body)) });
  }
}

function lines(body: Buffer | null): string[] {
  if (body === null) return [];
  return body.toString('latin1').split('\r\n').filter((line) => line.trim() !== '');
}

function openSocket(settings: Pop3ConnectionSettings): Promise<Socket | TLSSocket> {
  const timeoutMs = settings.timeoutMs ?? defaultTimeoutMs;
  return new Promise((resolve, reject) => {
    const socket = settings.ssl
      ? connectTls({ host: settings.host, port: settings.port, servername: settings.host, rejectUnauthorized: settings.sslTrusted, ca: settings.ca })
      : connectTcp({ host: settings.host, port: settings.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new MailqueueError(FailureType.Timeout, `POP3 server ${settings.host}:${settings.port} did not accept the connection within ${timeoutMs} ms: check host, port and firewall`, { host: settings.host, port: settings.port }));
    }, timeoutMs);
    socket.once(settings.ssl ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(translateSocketError(error, settings));
    });
  });
}

function translateSocketError(error: Error, settings: Pop3ConnectionSettings): MailqueueError {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const where = `POP3 server ${settings.host}:${settings.port}`;
  const details = { host: settings.host, port: settings.port, code };
  if (certificateErrorCodes.has(code)) {
    return new MailqueueError(FailureType.CertificateRejected, `The TLS certificate of ${where} did not verify (${code}): install a certificate from a trusted authority on the server, or turn "SSL trusted" off for this queue`, details, { cause: error });
  }
  const type: FailureTypeName = code === 'ETIMEDOUT' ? FailureType.Timeout : FailureType.ConnectionFailed;
  return new MailqueueError(type, `${where} could not be reached (${error.message}): check host and port, and that "ssl" matches the port (995 implicit TLS, 110 plain or STLS)`, details, { cause: error });
}

/**
 * Creates a `MailSource` over one POP3 session. POP3 has no cursor: `listNew` returns every message on
 * the server with its `pop3:<UIDL>` key and size, and the fetch activity skips keys already
 * stored before it bounds the batch. `remove` sends DELE; `close` sends QUIT, which commits them.
 */
export function createPop3Source(settings: Pop3ConnectionSettings, logger: Logger = rootLogger): MailSource & { abandon(): void } {
  let client: Pop3Client | null = null;
  const numbers = new Map<string, number>();

  const session = async (): Promise<Pop3Client> => {
    client ??= await Pop3Client.connect(settings, logger);
    return client;
  };

  return {
    protocol: 'pop3',

    async listNew(): Promise<SourceListing> {
      const pop3 = await session();
      const ids = await pop3.uidl();
      const sizes = await pop3.list();
      const refs: SourceMessageRef[] = [];
      numbers.clear();
      for (const [messageNumber, uid] of [...ids].sort((a, b) => a[0] - b[0])) {
        const key = `pop3:${uid}`;
        numbers.set(key, messageNumber);
        refs.push({ key, size: sizes.get(messageNumber) ?? null });
      }
      return { refs, cursorAfter: null, more: false, resynced: false };
    },

    async download(ref: SourceMessageRef): Promise<DownloadedSourceMessage | null> {
      const messageNumber = numbers.get(ref.key);
      if (messageNumber === undefined) return null;
      const raw = await (await session()).retrieve(messageNumber);
      // POP3 itself does not report the delivery address; the receiving server's Delivered-To header does.
      return raw === null ? null : { key: ref.key, raw, deliveredTo: deliveredToAddresses(raw) };
    },

    async remove(keys: string[]): Promise<void> {
      const pop3 = await session();
      for (const key of keys) {
        const messageNumber = numbers.get(key);
        if (messageNumber !== undefined) await pop3.delete(messageNumber);
      }
    },

    async close(): Promise<void> {
      const open = client;
      client = null;
      if (open !== null) await open.quit();
    },

    /** Drops the session without QUIT, as a crash would: the server keeps every message. */
    abandon(): void {
      client?.destroy();
      client = null;
    },
  };
}
