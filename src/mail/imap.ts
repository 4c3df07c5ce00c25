import { ImapFlow, type FetchMessageObject, type ImapFlowOptions, type MailboxLockObject } from 'imapflow';
import type { Logger } from 'pino';

import { FailureType, MailqueueError, type FailureTypeName } from '../errors.js';
import { logger as rootLogger } from '../logger.js';
import type {
  FetchedMessage,
  FolderState,
  ImapConnectionSettings,
  IncomingFolderSession,
  IncomingMailbox,
  MessageSize,
} from './incoming.js';

/** An IMAP connection; call `logout()` when done, also after a failure. */
export interface ImapMailbox extends IncomingMailbox {
  /** Sends LOGOUT and closes the connection. Never throws, because a broken connection is closed anyway. */
  logout(): Promise<void>;
}

/** Timeout for connecting and for each command when the settings give none, in milliseconds. */
export const defaultImapTimeoutMs = 60_000;

/**
 * Minimum socket inactivity timeout, in milliseconds. The socket may sit idle between commands
 * while the caller works on a batch; a command that hangs is caught by the per-call timeout instead.
 */
const minimumSocketTimeoutMs = 5 * 60_000;

const certificateErrorCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const connectionErrorCodes = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  'NoConnection',
  'EConnectionClosed',
  'ClosedAfterConnectText',
  'ClosedAfterConnectTLS',
]);

const timeoutErrorCodes = new Set([
  'CONNECT_TIMEOUT',
  'GREETING_TIMEOUT',
  'UPGRADE_TIMEOUT',
  'ETIMEOUT',
  'ETIMEDOUT',
  'LockTimeout',
]);

/** Location of a failure, for error messages and logs. Contains no password. */
interface FailureContext {
  host: string;
  port: number;
  user: string;
  /** Values that must never appear in an error message (the password). */
  secrets: string[];
}

/**
 * Connects and logs in to an IMAP server with imapflow.
 *
 * `ssl: true` uses implicit TLS; `ssl: false` upgrades with STARTTLS when the server offers it and
 * otherwise stays in clear text (imapflow's default when `doSTARTTLS` is unset). `sslTrusted: false`
 * accepts any certificate and logs a warning. `timeoutMs` (default 60 s) bounds connecting and every
 * later call. Throws MailqueueError with type AuthenticationFailed, CertificateRejected,
 * ConnectionFailed, Timeout or ProtocolError; messages never contain the password.
 */
export async function connectImap(settings: ImapConnectionSettings, logger: Logger = rootLogger): Promise<ImapMailbox> {
  const timeoutMs = settings.timeoutMs ?? defaultImapTimeoutMs;
  const context: FailureContext = {
    host: settings.host,
    port: settings.port,
    user: settings.user,
    secrets: [settings.password, settings.accessToken ?? ''].filter((secret) => secret !== ''),
  };
  const log = logger.child({ component: 'imap', host: settings.host, port: settings.port, user: settings.user });

  if (!settings.sslTrusted) {
    log.warn({ host: settings.host, port: settings.port }, 'imap accepts unverified tls certificates');
  }

  const options: ImapFlowOptions = {
    host: settings.host,
    port: settings.port,
    secure: settings.ssl,
    // imapflow logs in with AUTHENTICATE XOAUTH2 (or OAUTHBEARER) when given an access token.
    auth: settings.accessToken === undefined ? { user: settings.user, pass: settings.password } : { user: settings.user, accessToken: settings.accessToken },
    tls: settings.sslTrusted ? {} : { rejectUnauthorized: false },
    logger: createImapflowLogger(log),
    disableAutoIdle: true,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: Math.max(timeoutMs, minimumSocketTimeoutMs),
  };
  const client = new ImapFlow(options);
  // imapflow emits 'error' for socket failures outside a command; the next call then fails on its own.
  client.on('error', (error: unknown) => {
    log.warn({ code: errorCode(error) }, 'imap connection error');
  });

  try {
    await guard(client, context, timeoutMs, 'connect', () => client.connect());
  } catch (error) {
    client.close();
    throw error;
  }
  log.debug({ secure: client.secureConnection }, 'imap connected');

  return {
    openFolder: (folder: string) => openFolder(client, context, timeoutMs, folder, log),
    logout: async () => {
      try {
        await withTimeout(client.logout(), timeoutMs);
      } catch (error) {
        log.debug({ code: errorCode(error) }, 'imap logout failed; connection closed');
      } finally {
        client.close();
      }
    },
  };
}

async function openFolder(
  client: ImapFlow,
  context: FailureContext,
  timeoutMs: number,
  folder: string,
  log: Logger,
): Promise<IncomingFolderSession> {
  const lock = await guard(client, context, timeoutMs, 'select', () => client.getMailboxLock(folder), folder);
  try {
    const mailbox = client.mailbox;
    if (mailbox === false) {
      throw new MailqueueError(FailureType.ProtocolError, `IMAP folder ${folder} on ${context.host}:${context.port} was not selected after SELECT succeeded`, { folder });
    }
    const state: FolderState = {
      folder,
      uidValidity: mailbox.uidValidity.toString(),
      uidNext: mailbox.uidNext,
      exists: mailbox.exists,
    };
    log.debug({ folder, uidValidity: state.uidValidity, exists: state.exists }, 'imap folder opened');
    return new ImapFolderSession(client, lock, context, timeoutMs, state);
  } catch (error) {
    lock.release();
    throw error;
  }
}

class ImapFolderSession implements IncomingFolderSession {
  private closed = false;
  /** The call in progress, settled (never rejecting), so close() can wait for it. */
  private pending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly client: ImapFlow,
    private readonly lock: MailboxLockObject,
    private readonly context: FailureContext,
    private readonly timeoutMs: number,
    readonly state: FolderState,
  ) {}

  async listAfter(afterUid: number): Promise<MessageSize[]> {
    this.assertOpen();
    if (!Number.isInteger(afterUid) || afterUid < 0) {
      throw new RangeError(`afterUid must be a non-negative integer, got ${afterUid}`);
    }

    const messages = await this.run('UID FETCH', () =>
      this.client.fetchAll(`${afterUid + 1}:*`, { uid: true, size: true }, { uid: true }),
    );

    // `N:*` always matches the message with the highest UID, even when that UID is below N (RFC 3501 6.4.8).
    const newer = messages.filter((message) => message.uid > afterUid);
    const sizes = new Map<number, number>();
    for (const message of newer) {
      sizes.set(message.uid, this.requireSize(message));
    }
    return [...sizes].sort(([a], [b]) => a - b).map(([uid, size]) => ({ uid, size }));
  }

  async download(uids: number[]): Promise<FetchedMessage[]> {
    this.assertOpen();
    assertUids(uids);
    const wanted = new Set(uids);
    if (wanted.size === 0) {
      return [];
    }

    const messages = await this.run('UID FETCH', () =>
      this.client.fetchAll(toSequenceSet([...wanted]), { uid: true, source: true }, { uid: true }),
    );

    const sources = new Map<number, Buffer>();
    for (const message of messages) {
      if (wanted.has(message.uid) && message.source !== undefined) {
        sources.set(message.uid, message.source);
      }
    }
    await this.restoreNulBytes(sources);
    return [...sources].sort(([a], [b]) => a - b).map(([uid, raw]) => ({ uid, raw }));
  }

  /**
   * Dovecot (2.3) keeps NUL bytes of a stored message but sends them as 0x80 in a plain
   * FETCH BODY[], because IMAP literals may not carry NUL. With the BINARY extension
   * (RFC 3516) the same bytes arrive intact, but BINARY[] also decodes transfer
   * encodings. So for a message whose plain copy has 0x80 bytes, the binary copy is
   * taken only when it has the same length and differs only where 0x80 became 0x00.
   */
  private async restoreNulBytes(sources: Map<number, Buffer>): Promise<void> {
    if (!this.client.capabilities.has('BINARY')) {
      return;
    }
    const suspects = [...sources].filter(([, raw]) => raw.includes(0x80)).map(([uid]) => uid);
    if (suspects.length === 0) {
      return;
    }
    const binaries = await this.run('UID FETCH BINARY', () =>
      this.client.fetchAll(toSequenceSet(suspects), { uid: true, source: true }, { uid: true, binary: true }),
    );
    for (const message of binaries) {
      const plain = sources.get(message.uid);
      if (plain !== undefined && message.source !== undefined && differsOnlyByNul(plain, message.source)) {
        sources.set(message.uid, message.source);
      }
    }
  }

  async delete(uids: number[]): Promise<void> {
    this.assertOpen();
    assertUids(uids);
    const unique = [...new Set(uids)];
    if (unique.length === 0) {
      return;
    }
    // With UIDPLUS imapflow expunges exactly these UIDs (UID EXPUNGE); without it, every \Deleted message.
    await this.run('UID EXPUNGE', () => this.client.messageDelete(toSequenceSet(unique), { uid: true }));
  }

  async move(uids: number[], folder: string): Promise<void> {
    this.assertOpen();
    assertUids(uids);
    const unique = [...new Set(uids)];
    if (unique.length === 0) {
      return;
    }
    const folders = await this.run('LIST', () => this.client.list());
    if (!folders.some((entry) => entry.path === folder)) {
      await this.run('CREATE', () => this.client.mailboxCreate(folder));
    }
    // imapflow uses UID MOVE when the server has MOVE, else COPY, \Deleted and expunge.
    const moved = await this.run('UID MOVE', () => this.client.messageMove(toSequenceSet(unique), folder, { uid: true }));
    if (moved === false) {
      throw new MailqueueError(FailureType.ProtocolError, `IMAP server ${this.context.host} did not move messages to folder "${folder}"`, { folder });
    }
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    try {
      // A call abandoned by its caller may still be running; the lock must outlive it.
      await this.pending;
    } finally {
      this.lock.release();
    }
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new MailqueueError(FailureType.ProtocolError, `The IMAP session on folder ${this.state.folder} is closed: open the folder again`, { folder: this.state.folder });
    }
  }

  private requireSize(message: FetchMessageObject): number {
    if (message.size === undefined) {
      throw new MailqueueError(FailureType.ProtocolError, `IMAP server ${this.context.host}:${this.context.port} sent no RFC822.SIZE for UID ${message.uid} in folder ${this.state.folder}`, { folder: this.state.folder, uid: message.uid });
    }
    return message.size;
  }

  private run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const result = guard(this.client, this.context, this.timeoutMs, operation, call, this.state.folder);
    this.pending = result.catch(() => undefined);
    return result;
  }
}

/**
 * Runs one imapflow call with a timeout and translates its failure. After a timeout the
 * connection state is unknown, so the connection is closed.
 */
async function guard<T>(
  client: ImapFlow,
  context: FailureContext,
  timeoutMs: number,
  operation: string,
  call: () => Promise<T>,
  folder?: string,
): Promise<T> {
  try {
    return await withTimeout(call(), timeoutMs);
  } catch (error) {
    if (error instanceof CallTimeout) {
      client.close();
    }
    throw translateImapError(error, context, operation, folder);
  }
}

class CallTimeout extends Error {
  readonly code = 'ETIMEOUT';
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CallTimeout(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Translates an imapflow, socket or TLS error into a MailqueueError without leaking credentials. */
function translateImapError(error: unknown, context: FailureContext, operation: string, folder?: string): MailqueueError {
  if (error instanceof MailqueueError) {
    return error;
  }

  const where = `${context.host}:${context.port}`;
  const details: Record<string, unknown> = { host: context.host, port: context.port, operation, code: errorCode(error) ?? null };
  if (folder !== undefined) {
    details.folder = folder;
  }
  const make = (type: FailureTypeName, message: string): MailqueueError =>
    new MailqueueError(type, message, details, { cause: stripSecrets(error, context.secrets) });

  if (readField(error, 'authenticationFailed') === true && readField(error, 'serverResponseCode') === 'UNAVAILABLE') {
    // RFC 5530 UNAVAILABLE: the server could not check the password (its auth backend failed), so the login itself may be right.
    return make(FailureType.ProtocolError, `IMAP server ${where} could not check the login of user ${context.user} (UNAVAILABLE): retry later, or check the server's authentication backend`);
  }
  if (readField(error, 'authenticationFailed') === true) {
    return make(FailureType.AuthenticationFailed, `IMAP login failed for user ${context.user} on ${where}: check the login name and password`);
  }

  const codes = collectCodes(error);
  const certificateCode = codes.find((code) => certificateErrorCodes.has(code));
  if (certificateCode !== undefined) {
    return make(
      FailureType.CertificateRejected,
      `The TLS certificate of IMAP server ${where} did not verify (${certificateCode}): install a certificate from a trusted authority on the server, or turn "SSL trusted" off for this queue`,
    );
  }
  if (codes.some((code) => timeoutErrorCodes.has(code))) {
    return make(FailureType.Timeout, `IMAP ${operation} on ${where} timed out: check that the server is reachable and responsive, or raise the timeout`);
  }
  if (codes.some((code) => connectionErrorCodes.has(code))) {
    return make(FailureType.ConnectionFailed, `IMAP connection to ${where} failed during ${operation} (${codes[0]}): check the host name, port and SSL setting`);
  }
  if (folder !== undefined && isMissingFolder(error)) {
    return make(FailureType.FolderNotFound, `IMAP folder ${JSON.stringify(folder)} does not exist for user ${context.user} on ${where}: check the folder name`);
  }

  const text = redact(describeServerError(error), context.secrets);
  return make(FailureType.ProtocolError, `IMAP ${operation} on ${where} failed: ${text}`);
}

function isMissingFolder(error: unknown): boolean {
  if (readField(error, 'mailboxMissing') === true) {
    return true;
  }
  const responseCode = readField(error, 'serverResponseCode');
  return typeof responseCode === 'string' && responseCode.toUpperCase() === 'NONEXISTENT';
}

/** Joins the error message and the server's response text, cut to 300 characters so it fits a log line. */
function describeServerError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const responseText = readField(error, 'responseText');
  const combined = typeof responseText === 'string' && responseText !== '' && !message.includes(responseText) ? `${message} (${responseText})` : message;
  return combined.length > 300 ? `${combined.slice(0, 300)}...` : combined;
}

/** Error codes of the error and of its nested causes (imapflow keeps the socket error in `_err`). */
function collectCodes(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth += 1) {
    const code = errorCode(current);
    if (code !== undefined) {
      codes.push(code);
    }
    current = readField(current, '_err') ?? readField(current, 'cause');
  }
  return codes;
}

function errorCode(error: unknown): string | undefined {
  const code = readField(error, 'code');
  return typeof code === 'string' ? code : undefined;
}

function readField(value: unknown, field: string): unknown {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  return (value as Record<string, unknown>)[field];
}

function redact(text: string, secrets: string[]): string {
  return secrets.reduce((result, secret) => result.split(secret).join('[redacted]'), text);
}

/**
 * Returns a plain Error copy of `error` with the server response fields removed, so a cause that
 * reaches logs or Temporal failure details cannot echo the credentials.
 */
function stripSecrets(error: unknown, secrets: string[]): Error {
  const message = error instanceof Error ? error.message : String(error);
  const copy = new Error(redact(message, secrets));
  copy.name = error instanceof Error ? error.name : 'Error';
  const code = errorCode(error);
  if (code !== undefined) {
    Object.assign(copy, { code });
  }
  return copy;
}

/**
 * Adapts a pino logger to imapflow's logger. Only warnings and errors are forwarded, and only
 * their message, connection id and code, so protocol traces (which contain the LOGIN command)
 * never reach the output.
 */
function createImapflowLogger(log: Logger): NonNullable<ImapFlowOptions['logger']> {
  const forward = (level: 'warn' | 'error') => (entry: unknown): void => {
    const message = readField(entry, 'msg');
    log[level](
      {
        cid: readField(entry, 'cid'),
        code: errorCode(entry) ?? errorCode(readField(entry, 'err')),
        detail: typeof message === 'string' ? message : undefined,
      },
      'imapflow reported a problem',
    );
  };
  const ignore = (): void => undefined;
  return { debug: ignore, info: ignore, warn: forward('warn'), error: forward('error') };
}

function assertUids(uids: number[]): void {
  const invalid = uids.find((uid) => !Number.isInteger(uid) || uid < 1);
  if (invalid !== undefined) {
    throw new RangeError(`IMAP UIDs must be positive integers, got ${invalid}`);
  }
}

/** Compresses UIDs into an IMAP sequence set such as `3:5,9`, so long lists keep the command short. */
export function toSequenceSet(uids: number[]): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  if (sorted.length === 0) {
    return '';
  }
  const ranges: string[] = [];
  let start = sorted[0];
  let previous = sorted[0];
  for (const uid of sorted.slice(1)) {
    if (uid === previous + 1) {
      previous = uid;
      continue;
    }
    ranges.push(start === previous ? `${start}` : `${start}:${previous}`);
    start = uid;
    previous = uid;
  }
  ranges.push(start === previous ? `${start}` : `${start}:${previous}`);
  return ranges.join(',');
}

/** True when `binary` equals `plain` except at positions where plain has 0x80 and binary has 0x00, with at least one such position. */
export function differsOnlyByNul(plain: Buffer, binary: Buffer): boolean {
  if (plain.length !== binary.length) {
    return false;
  }
  let restored = 0;
  for (let index = 0; index < plain.length; index++) {
    if (plain[index] === binary[index]) {
      continue;
    }
    if (plain[index] !== 0x80 || binary[index] !== 0x00) {
      return false;
    }
    restored += 1;
  }
  return restored > 0;
}
