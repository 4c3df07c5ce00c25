import nodemailer from 'nodemailer';
import type { NodemailerError, SMTPTransportOptions } from 'nodemailer';
import type { Logger } from 'pino';

import { FailureType, MailqueueError, type FailureTypeName } from '../errors.js';
import { childLogger } from '../logger.js';

/**
 * Security mode of the connection. `auto` picks a mode by port (see `resolveSecurity`).
 * `starttls-opportunistic` upgrades when the server offers STARTTLS and stays plain otherwise.
 */
export type SmtpSecurity = 'auto' | 'implicit-tls' | 'starttls-required' | 'starttls-opportunistic' | 'none';

/** Settings of a queue's outgoing SMTP server. */
export interface SmtpConnectionSettings {
  host: string;
  port: number;
  /** Login name, or null to send without AUTH. */
  user: string | null;
  password: string | null;
  /** OAuth2 access token: log in with XOAUTH2 as `user` instead of the password. */
  accessToken?: string;
  /** True verifies the server certificate. False also accepts self-signed and mismatched certificates. */
  sslTrusted: boolean;
  security?: SmtpSecurity;
  /** Timeout in milliseconds for DNS, the TCP connection and the greeting (default 30000). The idle timeout is twice this. */
  timeoutMs?: number;
}

/** The TLS switches of nodemailer's SMTP connection options that a security mode sets. */
export interface SmtpTlsOptions {
  /** TLS from the first byte (implicit TLS, port 465). */
  secure: boolean;
  /** Fail when the server does not accept STARTTLS. */
  requireTLS: boolean;
  /** Never send STARTTLS, even when offered. */
  ignoreTLS: boolean;
}

export interface SmtpSendResult {
  accepted: string[];
  rejected: string[];
  /** The server's final response to DATA, such as "250 2.0.0 Ok: queued as ...". */
  response: string;
  messageId?: string;
}

const defaultTimeoutMs = 30_000;

/** Maximum length of a server response quoted in an error message. */
const maxQuotedResponseLength = 300;

/** Node.js and OpenSSL codes of a certificate that did not verify. */
const certificateErrorCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Certificate failure messages of Node.js 20. On some paths nodemailer 10.6 wraps a failed TLS
 * handshake in a new Error ("Error initiating TLS - self-signed certificate") without its code.
 */
const certificateErrorText = /self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate|certificate has expired|certificate is not yet valid|does not match certificate's altnames/i;

/**
 * Resolves `auto` to a concrete mode by port: 465 is implicit TLS, 587 (submission) requires
 * STARTTLS, and 25 or any other port uses STARTTLS when the server offers it.
 */
export function resolveSecurity(port: number, security: SmtpSecurity = 'auto'): Exclude<SmtpSecurity, 'auto'> {
  if (security !== 'auto') {
    return security;
  }
  if (port === 465) {
    return 'implicit-tls';
  }
  if (port === 587) {
    return 'starttls-required';
  }
  return 'starttls-opportunistic';
}

/** Maps a port and security mode to nodemailer's `secure`, `requireTLS` and `ignoreTLS` options. */
export function securityForPort(port: number, security: SmtpSecurity = 'auto'): SmtpTlsOptions {
  switch (resolveSecurity(port, security)) {
    case 'implicit-tls':
      return { secure: true, requireTLS: false, ignoreTLS: false };
    case 'starttls-required':
      return { secure: false, requireTLS: true, ignoreTLS: false };
    case 'starttls-opportunistic':
      return { secure: false, requireTLS: false, ignoreTLS: false };
    case 'none':
      return { secure: false, requireTLS: false, ignoreTLS: true };
  }
}

/**
 * Sends `raw` byte for byte (no header is added or changed) to `envelope.to` over one new SMTP
 * connection, closed afterwards.
 *
 * Resolves when the server accepted the message for at least one recipient. Recipients it rejected
 * while others were accepted are listed in `rejected`. Throws a MailqueueError: PermanentDeliveryFailure
 * (5xx, or every recipient rejected with 5xx), TemporaryDeliveryFailure (4xx), AuthenticationFailed,
 * CertificateRejected, InvalidConfiguration (STARTTLS required but not offered), ConnectionFailed or Timeout.
 */
export async function sendRawMail(
  settings: SmtpConnectionSettings,
  envelope: { from: string; to: string[] },
  raw: Buffer,
  logger?: Logger,
): Promise<SmtpSendResult> {
  const log = logger ?? childLogger({ component: 'smtp' });
  const transporter = nodemailer.createTransport(transportOptions(settings, log));
  const endpoint = { host: settings.host, port: settings.port, security: resolveSecurity(settings.port, settings.security) };

  try {
    log.debug({ ...endpoint, recipients: envelope.to.length, bytes: raw.length }, 'sending mail over smtp');
    const info = await transporter.sendMail({ envelope: { from: envelope.from, to: envelope.to }, raw });

    const result: SmtpSendResult = {
      accepted: info.accepted.map(String),
      rejected: info.rejected.map(String),
      response: info.response,
      messageId: info.messageId || undefined,
    };
    if (result.rejected.length > 0) {
      log.warn({ ...endpoint, rejected: result.rejected, accepted: result.accepted.length }, 'smtp server rejected some recipients');
    }
    log.info({ ...endpoint, accepted: result.accepted.length, response: result.response }, 'smtp server accepted mail');
    return result;
  } catch (error) {
    throw translateSmtpError(error, settings);
  } finally {
    transporter.close();
  }
}

/**
 * Checks a configuration: connects, secures the connection as `security` requires and logs in when a
 * user is set. Resolves when all of that worked, and throws the same MailqueueError types as `sendRawMail`.
 */
export async function verifySmtp(settings: SmtpConnectionSettings, logger?: Logger): Promise<void> {
  const log = logger ?? childLogger({ component: 'smtp' });
  const transporter = nodemailer.createTransport(transportOptions(settings, log));

  try {
    await transporter.verify();
    log.info({ host: settings.host, port: settings.port, security: resolveSecurity(settings.port, settings.security) }, 'smtp settings verified');
  } catch (error) {
    throw translateSmtpError(error, settings);
  } finally {
    transporter.close();
  }
}

function transportOptions(settings: SmtpConnectionSettings, log: Logger): SMTPTransportOptions {
  const timeoutMs = settings.timeoutMs ?? defaultTimeoutMs;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `SMTP timeout for ${settings.host}:${settings.port} must be a positive number of milliseconds, got ${timeoutMs}; leave it unset for ${defaultTimeoutMs}.`);
  }
  if (settings.user !== null && settings.password === null && settings.accessToken === undefined) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `SMTP user "${settings.user}" for ${settings.host}:${settings.port} has no password; set the password or clear the user to send without login.`);
  }
  if (!settings.sslTrusted) {
    log.warn({ host: settings.host, port: settings.port }, 'smtp certificate verification is off; self-signed certificates are accepted');
  }
  const security = resolveSecurity(settings.port, settings.security);
  if (settings.user !== null && (security === 'none' || security === 'starttls-opportunistic')) {
    log.warn({ host: settings.host, port: settings.port, security }, 'smtp login may be sent without tls');
  }

  return {
    host: settings.host,
    port: settings.port,
    ...securityForPort(settings.port, settings.security),
    auth: authOptions(settings),
    // With credentials configured, a server that does not advertise AUTH fails the login instead of
    // receiving the mail unauthenticated.
    forceAuth: settings.user !== null,
    tls: { rejectUnauthorized: settings.sslTrusted },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    // The idle limit is doubled because a server may scan a message for a while before it replies to DATA.
    socketTimeout: timeoutMs * 2,
    dnsTimeout: timeoutMs,
    logger: false,
    debug: false,
  };
}

/** Login of the transport: none, a password, or XOAUTH2 with an access token. */
function authOptions(settings: SmtpConnectionSettings): SMTPTransportOptions['auth'] {
  if (settings.user === null) return undefined;
  if (settings.accessToken !== undefined) return { type: 'OAuth2', user: settings.user, accessToken: settings.accessToken };
  return { user: settings.user, pass: settings.password ?? '' };
}

function isNodemailerError(error: unknown): error is NodemailerError {
  return error instanceof Error;
}

function isCertificateError(error: NodemailerError): boolean {
  const codes = [error.code, error.originalCode];
  if (codes.some((code) => code !== undefined && certificateErrorCodes.has(code))) {
    return true;
  }
  return (error.code === 'ETLS' || error.code === 'ESOCKET') && certificateErrorText.test(error.message);
}

/** `text` on one line, shortened to `maxQuotedResponseLength` characters. */
function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > maxQuotedResponseLength ? `${line.slice(0, maxQuotedResponseLength)}...` : line;
}

/** Formats the server's response for an error message. Never used for AUTH replies. */
function quotedResponse(error: NodemailerError): string {
  return oneLine(error.response ?? '');
}

/** Turns a nodemailer error into a MailqueueError whose message names host, port and the fix. */
function translateSmtpError(error: unknown, settings: SmtpConnectionSettings): MailqueueError {
  if (error instanceof MailqueueError) {
    return error;
  }
  const where = `SMTP server ${settings.host}:${settings.port}`;
  if (!isNodemailerError(error)) {
    return new MailqueueError(FailureType.TemporaryDeliveryFailure, `${where} failed with a non-error value ${String(error)}; retry, and report it if it repeats.`, {}, { cause: error });
  }

  const responseCode = error.responseCode ?? null;
  const command = error.command ?? null;
  const details = { host: settings.host, port: settings.port, code: error.code ?? null, responseCode, command };
  const build = (type: FailureTypeName, message: string, extra: Record<string, unknown> = {}): MailqueueError =>
    new MailqueueError(type, message, { ...details, ...extra }, { cause: error });

  if (isCertificateError(error)) {
    return build(FailureType.CertificateRejected, `${where} presented a certificate that did not verify (${oneLine(error.message)}); install a certificate from a trusted authority on the server, or turn "SSL trusted" off for this queue.`);
  }

  // AUTH replies are never quoted because a server may echo part of the base64 credentials in them.
  if (error.code === 'EAUTH' || error.code === 'ENOAUTH' || responseCode === 530) {
    const code = responseCode === null ? '' : ` (code ${responseCode})`;
    const message = settings.user === null
      ? `${where} requires a login${code}, but the queue has no SMTP user; set the user name and password of the queue's outgoing server.`
      : settings.accessToken !== undefined
        ? `${where} rejected the XOAUTH2 login as user "${settings.user}"${code}; check that the signed-in account may send as this user, and reconnect the mailbox with \`mailqueue oauth connect\`.`
        : `${where} rejected the login as user "${settings.user}"${code}; check the user name and password of the queue's outgoing server, or clear the user if the server takes mail without login.`;
    // The nodemailer error is not attached as cause because it carries the AUTH reply in `message` and `response`.
    return new MailqueueError(FailureType.AuthenticationFailed, message, details);
  }

  // STARTTLS required but refused or not offered: only an operator can fix this, by choosing a
  // security mode the server supports or enabling STARTTLS on it, so a retry would not help.
  if ((error.code === 'ETLS' && command === 'STARTTLS' && responseCode !== null) || (command === 'EHLO' && /STARTTLS/.test(error.message))) {
    return build(FailureType.InvalidConfiguration, `${where} does not offer STARTTLS (${quotedResponse(error)}), but security "${resolveSecurity(settings.port, settings.security)}" requires it; enable STARTTLS on the server, use implicit TLS (usually port 465), or choose "starttls-opportunistic" or "none" only on a trusted network.`);
  }

  if (error.code === 'ETIMEDOUT') {
    return build(FailureType.Timeout, `${where} did not answer in time (${error.timeoutType ?? 'timeout'}); check host, port and firewall, and that the security mode matches the port (465 implicit TLS, 587 STARTTLS).`, { timeoutType: error.timeoutType ?? null });
  }

  // NOTE: 503 (bad sequence of commands) counts as permanent here, although nodemailer's own
  // `permanent` flag treats it as worth a retry on a new connection.
  if (responseCode !== null && responseCode >= 500) {
    return build(FailureType.PermanentDeliveryFailure, `${where} rejected the mail at ${command ?? 'the SMTP dialog'}: ${quotedResponse(error)}; fix the address or content named in the response, because a retry gets the same answer.`, { rejected: error.rejected ?? [] });
  }
  if (responseCode !== null && responseCode >= 400) {
    return build(FailureType.TemporaryDeliveryFailure, `${where} deferred the mail at ${command ?? 'the SMTP dialog'}: ${quotedResponse(error)}; it is sent again later.`, { rejected: error.rejected ?? [] });
  }

  switch (error.code) {
    case 'ECONNECTION':
    case 'ESOCKET':
    case 'EDNS':
    case 'ETLS':
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'EPROXY':
      return build(FailureType.ConnectionFailed, `${where} could not be reached (${oneLine(error.message)}); check host and port, and that the security mode matches the port (465 implicit TLS, 587 STARTTLS).`, { originalCode: error.originalCode ?? null });
    case 'EENVELOPE':
    case 'EMESSAGE':
      return build(FailureType.PermanentDeliveryFailure, `${where} could not take the mail (${oneLine(error.message)}); check the sender and recipient addresses.`);
    case 'EPROTOCOL':
      return build(FailureType.ProtocolError, `${where} sent a response the client cannot read (${oneLine(error.message)}); check that host and port belong to an SMTP server.`);
    default:
      return build(FailureType.TemporaryDeliveryFailure, `${where} failed (${oneLine(error.message)}); it is sent again later, and the code ${error.code ?? 'none'} tells what to check if it repeats.`);
  }
}
