import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';

import { pino, type Logger } from 'pino';

import { createSelfSignedCertificate, type SelfSignedCertificate } from '../../src/dev/self-signed-cert.js';
import { FailureType, MailqueueError } from '../../src/errors.js';
import { securityForPort, sendRawMail, verifySmtp, type SmtpConnectionSettings } from '../../src/mail/smtp.js';
import { startCaptureSmtpServer, type CaptureSmtpServer } from '../support/smtp-capture.js';

const credentials = { user: 'agent@example.test', password: 'correct horse battery staple' };
const envelope = { from: 'queue@example.test', to: ['customer@example.test'] };

/** CRLF lines, a leading dot (dot-stuffing) and an 8-bit byte, so a changed byte would show. */
const rawMessage = Buffer.concat([
  Buffer.from('From: queue@example.test\r\nTo: customer@example.test\r\nSubject: bytes\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n', 'ascii'),
  Buffer.from('caf', 'ascii'),
  Buffer.from([0xe9]),
  Buffer.from('\r\n.leading dot\r\n..two dots\r\nlast line\r\n', 'ascii'),
]);

const silentLogger: Logger = pino({ level: 'silent' });

function settingsFor(server: CaptureSmtpServer, overrides: Partial<SmtpConnectionSettings> = {}): SmtpConnectionSettings {
  return {
    host: server.host,
    port: server.port,
    user: null,
    password: null,
    sslTrusted: false,
    timeoutMs: 5000,
    ...overrides,
  };
}

/** Awaits a promise that must reject with a MailqueueError and returns that error. */
async function failureOf(promise: Promise<unknown>): Promise<MailqueueError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof MailqueueError, `expected a MailqueueError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the promise to reject');
}

/** Creates a pino logger that writes its JSON lines into `lines`. */
function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

describe('securityForPort', () => {
  it('port 465 uses implicit TLS', () => {
    assert.deepEqual(securityForPort(465, 'auto'), { secure: true, requireTLS: false, ignoreTLS: false });
  });

  it('port 587 requires STARTTLS', () => {
    assert.deepEqual(securityForPort(587, 'auto'), { secure: false, requireTLS: true, ignoreTLS: false });
  });

  it('port 25 upgrades when offered', () => {
    assert.deepEqual(securityForPort(25, 'auto'), { secure: false, requireTLS: false, ignoreTLS: false });
  });

  it('other port upgrades when offered', () => {
    assert.deepEqual(securityForPort(2525), { secure: false, requireTLS: false, ignoreTLS: false });
  });

  it('explicit mode overrides the port', () => {
    assert.deepEqual(securityForPort(587, 'implicit-tls'), { secure: true, requireTLS: false, ignoreTLS: false });
  });

  it('none ignores offered STARTTLS', () => {
    assert.deepEqual(securityForPort(25, 'none'), { secure: false, requireTLS: false, ignoreTLS: true });
  });
});

describe('sendRawMail', () => {
  let certificate: SelfSignedCertificate;

  before(async () => {
    certificate = await createSelfSignedCertificate();
  });

  it('delivers over required STARTTLS with AUTH', async () => {
    const server = await startCaptureSmtpServer({ mode: 'starttls', auth: credentials, cert: certificate });
    try {
      const result = await sendRawMail(
        settingsFor(server, { ...credentials, security: 'starttls-required' }),
        envelope,
        rawMessage,
        silentLogger,
      );
      const [captured] = await server.waitForMessages(1);

      assert.deepEqual(result.accepted, envelope.to);
      assert.equal(captured.secure, true);
      assert.equal(captured.authenticatedUser, credentials.user);
      assert.deepEqual(captured.envelope, envelope);
      assert.ok(captured.raw.equals(rawMessage), 'received bytes differ from sent bytes');
    } finally {
      await server.close();
    }
  });

  it('delivers over implicit TLS', async () => {
    const server = await startCaptureSmtpServer({ mode: 'implicit-tls', cert: certificate });
    try {
      await sendRawMail(settingsFor(server, { security: 'implicit-tls' }), envelope, rawMessage, silentLogger);
      const [captured] = await server.waitForMessages(1);

      assert.equal(captured.secure, true);
      assert.ok(captured.raw.equals(rawMessage), 'received bytes differ from sent bytes');
    } finally {
      await server.close();
    }
  });

  it('delivers over plain SMTP', async () => {
    const server = await startCaptureSmtpServer({ mode: 'plain' });
    try {
      await sendRawMail(settingsFor(server, { security: 'none' }), envelope, rawMessage, silentLogger);
      const [captured] = await server.waitForMessages(1);

      assert.equal(captured.secure, false);
      assert.ok(captured.raw.equals(rawMessage), 'received bytes differ from sent bytes');
    } finally {
      await server.close();
    }
  });

  it('auto mode upgrades offered STARTTLS', async () => {
    const server = await startCaptureSmtpServer({ mode: 'starttls', cert: certificate });
    try {
      await sendRawMail(settingsFor(server, { security: 'auto' }), envelope, rawMessage, silentLogger);
      const [captured] = await server.waitForMessages(1);

      assert.equal(captured.secure, true);
    } finally {
      await server.close();
    }
  });

  it('auto mode stays plain without STARTTLS', async () => {
    const server = await startCaptureSmtpServer({ mode: 'plain' });
    try {
      await sendRawMail(settingsFor(server, { security: 'auto' }), envelope, rawMessage, silentLogger);
      const [captured] = await server.waitForMessages(1);

      assert.equal(captured.secure, false);
    } finally {
      await server.close();
    }
  });

  it('wrong password is AuthenticationFailed', async () => {
    const server = await startCaptureSmtpServer({ mode: 'starttls', auth: credentials, cert: certificate });
    const wrongPassword = 'wrong-password-1234';
    try {
      const error = await failureOf(
        sendRawMail(settingsFor(server, { user: credentials.user, password: wrongPassword, security: 'starttls-required' }), envelope, rawMessage, silentLogger),
      );

      assert.equal(error.type, FailureType.AuthenticationFailed);
      assert.equal(error.details.responseCode, 535);
      assert.ok(!error.message.includes(wrongPassword), 'error message contains the password');
      assert.ok(error.message.includes(`${server.host}:${server.port}`), 'error message lacks host and port');
      assert.equal(server.messages.length, 0);
    } finally {
      await server.close();
    }
  });

  it('550 recipient is PermanentDeliveryFailure', async () => {
    const server = await startCaptureSmtpServer({
      mode: 'plain',
      rejectRecipient: (address) => (address === envelope.to[0] ? { code: 550, message: '5.1.1 Mailbox unknown' } : null),
    });
    try {
      const error = await failureOf(sendRawMail(settingsFor(server, { security: 'none' }), envelope, rawMessage, silentLogger));

      assert.equal(error.type, FailureType.PermanentDeliveryFailure);
      assert.equal(error.details.responseCode, 550);
      assert.equal(error.details.command, 'RCPT TO');
      assert.match(error.message, /550 5\.1\.1 Mailbox unknown/);
      assert.equal(server.messages.length, 0);
    } finally {
      await server.close();
    }
  });

  it('451 recipient is TemporaryDeliveryFailure', async () => {
    const server = await startCaptureSmtpServer({
      mode: 'plain',
      rejectRecipient: () => ({ code: 451, message: '4.7.1 Greylisted, try again later' }),
    });
    try {
      const error = await failureOf(sendRawMail(settingsFor(server, { security: 'none' }), envelope, rawMessage, silentLogger));

      assert.equal(error.type, FailureType.TemporaryDeliveryFailure);
      assert.equal(error.details.responseCode, 451);
      assert.match(error.message, /451 4\.7\.1 Greylisted/);
    } finally {
      await server.close();
    }
  });

  it('partial rejection lists rejected recipient', async () => {
    const unknown = 'nobody@example.test';
    const server = await startCaptureSmtpServer({
      mode: 'plain',
      rejectRecipient: (address) => (address === unknown ? { code: 550, message: '5.1.1 Mailbox unknown' } : null),
    });
    try {
      const result = await sendRawMail(settingsFor(server, { security: 'none' }), { from: envelope.from, to: [envelope.to[0], unknown] }, rawMessage, silentLogger);
      const [captured] = await server.waitForMessages(1);

      assert.deepEqual(result.rejected, [unknown]);
      assert.deepEqual(result.accepted, envelope.to);
      assert.deepEqual(captured.envelope.to, envelope.to);
    } finally {
      await server.close();
    }
  });

  it('trusted mode rejects self-signed STARTTLS', async () => {
    const server = await startCaptureSmtpServer({ mode: 'starttls', cert: certificate });
    try {
      const error = await failureOf(
        sendRawMail(settingsFor(server, { sslTrusted: true, security: 'starttls-required' }), envelope, rawMessage, silentLogger),
      );

      assert.equal(error.type, FailureType.CertificateRejected);
      assert.match(error.message, /SSL trusted/);
      assert.equal(server.messages.length, 0);
    } finally {
      await server.close();
    }
  });

  it('trusted mode rejects self-signed implicit TLS', async () => {
    const server = await startCaptureSmtpServer({ mode: 'implicit-tls', cert: certificate });
    try {
      const error = await failureOf(
        sendRawMail(settingsFor(server, { sslTrusted: true, security: 'implicit-tls' }), envelope, rawMessage, silentLogger),
      );

      assert.equal(error.type, FailureType.CertificateRejected);
      assert.equal(server.messages.length, 0);
    } finally {
      await server.close();
    }
  });

  it('untrusted mode accepts self-signed certificate', async () => {
    const server = await startCaptureSmtpServer({ mode: 'starttls', auth: credentials, cert: certificate });
    const { logger, lines } = recordingLogger();
    try {
      await sendRawMail(settingsFor(server, { ...credentials, sslTrusted: false, security: 'starttls-required' }), envelope, rawMessage, logger);
      await server.waitForMessages(1);
      const warning = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.level === 40);

      assert.equal(warning?.port, server.port);
      assert.equal(warning?.host, server.host);
      assert.ok(!lines.join('').includes(credentials.password), 'log output contains the password');
    } finally {
      await server.close();
    }
  });

  it('required STARTTLS missing is InvalidConfiguration', async () => {
    const server = await startCaptureSmtpServer({ mode: 'plain' });
    try {
      const error = await failureOf(sendRawMail(settingsFor(server, { security: 'starttls-required' }), envelope, rawMessage, silentLogger));

      assert.equal(error.type, FailureType.InvalidConfiguration);
      assert.match(error.message, /does not offer STARTTLS/);
      assert.equal(server.messages.length, 0);
    } finally {
      await server.close();
    }
  });

  it('refused connection is ConnectionFailed', async () => {
    const server = await startCaptureSmtpServer({ mode: 'plain' });
    const port = server.port;
    await server.close();

    const error = await failureOf(
      sendRawMail({ host: '127.0.0.1', port, user: null, password: null, sslTrusted: true, security: 'none', timeoutMs: 2000 }, envelope, rawMessage, silentLogger),
    );

    assert.equal(error.type, FailureType.ConnectionFailed);
    assert.ok(error.message.includes(`127.0.0.1:${port}`), 'error message lacks host and port');
  });

  it('silent server is Timeout', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const error = await failureOf(
        sendRawMail({ host: '127.0.0.1', port, user: null, password: null, sslTrusted: true, security: 'none', timeoutMs: 300 }, envelope, rawMessage, silentLogger),
      );

      assert.equal(error.type, FailureType.Timeout);
    } finally {
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('verifySmtp', () => {
  let server: CaptureSmtpServer;

  before(async () => {
    server = await startCaptureSmtpServer({ mode: 'starttls', auth: credentials });
  });

  after(async () => {
    await server.close();
  });

  it('accepts working login', async () => {
    await assert.doesNotReject(verifySmtp(settingsFor(server, { ...credentials, security: 'starttls-required' }), silentLogger));
  });

  it('wrong password is AuthenticationFailed', async () => {
    const error = await failureOf(verifySmtp(settingsFor(server, { user: credentials.user, password: 'nope', security: 'starttls-required' }), silentLogger));

    assert.equal(error.type, FailureType.AuthenticationFailed);
  });

  it('login without TLS is rejected', async () => {
    const error = await failureOf(verifySmtp(settingsFor(server, { ...credentials, security: 'none' }), silentLogger));

    assert.equal(error.type, FailureType.AuthenticationFailed);
    assert.equal(error.details.responseCode, 538);
  });

  it('user without password is InvalidConfiguration', async () => {
    const error = await failureOf(verifySmtp(settingsFor(server, { user: credentials.user, password: null }), silentLogger));

    assert.equal(error.type, FailureType.InvalidConfiguration);
  });
});
