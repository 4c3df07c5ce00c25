import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';

import { spawnManaged } from './child-process.js';
import { assertAncestorsTraversable } from './directories.js';
import { findFreePort, waitForGreeting } from './ports.js';
import { createSelfSignedCertificate } from './self-signed-cert.js';
import { findDovecot } from './tools.js';

const execFileAsync = promisify(execFile);

/** System user that owns the maildirs; Dovecot 2.3 started as root rejects a userdb uid of 0. */
export const mailStorageUser = 'mailqueue-mail';

/** Login and password of one mailbox on the local Dovecot. */
export interface DovecotUser {
  /** Login name: letters, digits, `.`, `_`, `-` and `@` only, because it becomes a directory name. */
  user: string;
  /** Password in clear text: any characters except `:` and line breaks (passwd-file format). */
  password: string;
}

export interface DovecotOptions {
  /** Directory for the config, runtime sockets, state and maildirs; created if missing. Keep it short: socket paths must stay under 108 bytes. */
  dir: string;
  users: DovecotUser[];
  /** Also listen for implicit TLS (IMAPS) and offer STARTTLS, with a self-signed certificate for localhost. Default false. */
  tls?: boolean;
  /** Also listen for POP3. Default false. */
  pop3?: boolean;
  /**
   * Also accept XOAUTH2 and OAUTHBEARER logins, checking each token at this RFC 7662 introspection
   * URL (a local fake in tests). The token's `username` must equal the login name.
   */
  oauth2IntrospectionUrl?: string;
  logger?: Logger;
}

/** A running Dovecot instance on loopback. */
export interface DovecotServer {
  host: '127.0.0.1';
  imapPort: number;
  /** Implicit TLS port, or null when started without `tls`. */
  imapsPort: number | null;
  pop3Port: number | null;
  /** POP3 over implicit TLS (POP3S), or null unless started with both `pop3` and `tls`. */
  pop3sPort: number | null;
  /** Path of the generated `dovecot.conf`, for `doveadm -c`. */
  configPath: string;
  /** PEM certificate the TLS listeners present, or null without `tls`. */
  certificatePem: string | null;
  /** Returns the maildir root (the INBOX directory) of `user`. */
  mailRoot(user: string): string;
  /** The last few thousand characters of Dovecot's log, for diagnosing a failed test. */
  logTail(): string;
  /** Stops Dovecot and waits for the master process to exit. */
  stop(): Promise<void>;
}

/** Users the Debian packages create: the auth process runs as the first, login processes as the second. */
const dovecotInternalUser = 'dovecot';
const dovecotLoginUser = 'dovenull';

/** Time to wait for the IMAP greeting after spawning Dovecot, in milliseconds. */
const startTimeoutMs = 15_000;

const userNamePattern = /^[A-Za-z0-9._@-]+$/;

/**
 * Starts a standalone Dovecot (IMAP, optionally POP3 and TLS) on free 127.0.0.1 ports, for tests
 * and the demo. Writes its own `dovecot.conf` in `dir` and never reads or changes `/etc/dovecot`.
 * Must run as root (Dovecot's privilege separation); creates the system user `mailqueue-mail`
 * with `useradd --system` when it is missing. Resolves once the IMAP greeting arrives.
 */
export async function startDovecot(options: DovecotOptions): Promise<DovecotServer> {
  const binary = findDovecot();
  for (const { user, password } of options.users) {
    validateUser(user, password);
  }

  const dir = resolve(options.dir);
  const mailDir = join(dir, 'mail');
  const { uid, gid } = await ensureMailStorageUser();
  await mkdir(join(dir, 'run'), { recursive: true });
  await mkdir(join(dir, 'state'), { recursive: true });
  await mkdir(mailDir, { recursive: true });

  // Dovecot's unprivileged auth, login and mail processes must traverse `dir`; the maildirs belong to the storage user.
  await assertAncestorsTraversable(dir, 'Dovecot');
  await chmod(dir, 0o755);
  await chown(mailDir, uid, gid);

  const imapPort = await findFreePort();
  const imapsPort = options.tls === true ? await findFreePort() : null;
  const pop3Port = options.pop3 === true ? await findFreePort() : null;
  const pop3sPort = options.pop3 === true && options.tls === true ? await findFreePort() : null;

  let certificatePem: string | null = null;
  if (options.tls === true) {
    const certificate = await createSelfSignedCertificate();
    certificatePem = certificate.cert;
    await writeFile(join(dir, 'cert.pem'), certificate.cert, { mode: 0o644 });
    await writeFile(join(dir, 'key.pem'), certificate.key, { mode: 0o600 });
  }

  // The auth process runs as the internal user `dovecot`, so only its group may read the passwords.
  const internalUser = await lookupUser(dovecotInternalUser);
  if (internalUser === null) {
    throw new Error(`The system user ${dovecotInternalUser} is missing: reinstall dovecot-core (\`apt-get install --reinstall dovecot-core\`)`);
  }
  const passwdPath = join(dir, 'passwd');
  const passwdLines = options.users.map(({ user, password }) => `${user}:{PLAIN}${password}::::::`);
  await writeFile(passwdPath, `${passwdLines.join('\n')}\n`, { mode: 0o640 });
  await chmod(passwdPath, 0o640);
  await chown(passwdPath, 0, internalUser.gid);

  if (options.oauth2IntrospectionUrl !== undefined) {
    const oauth2Config = `introspection_mode = post\nintrospection_url = ${options.oauth2IntrospectionUrl}\nforce_introspection = yes\nusername_attribute = username\nactive_attribute = active\nactive_value = true\n`;
    await writeFile(join(dir, 'oauth2.conf.ext'), oauth2Config, { mode: 0o640 });
    await chown(join(dir, 'oauth2.conf.ext'), 0, internalUser.gid);
  }

  const configPath = join(dir, 'dovecot.conf');
  await writeFile(configPath, renderConfig({ dir, mailDir, imapPort, imapsPort, pop3Port, pop3sPort, oauth2IntrospectionUrl: options.oauth2IntrospectionUrl ?? null }), { mode: 0o644 });

  const child = spawnManaged(binary, ['-F', '-c', configPath]);
  try {
    await Promise.race([
      waitForGreeting('127.0.0.1', imapPort, startTimeoutMs),
      child.exited.then((code) => {
        throw new Error(`Dovecot exited with ${code} during start-up`);
      }),
    ]);
  } catch (error) {
    await child.stop(2_000);
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Dovecot did not start (${reason}); its output ends with:\n${child.outputTail()}`, { cause: error });
  }
  options.logger?.info({ imapPort, imapsPort, pop3Port, pop3sPort, dir }, 'dovecot started');

  return {
    host: '127.0.0.1',
    imapPort,
    imapsPort,
    pop3Port,
    pop3sPort,
    configPath,
    certificatePem,
    mailRoot: (user: string) => join(mailDir, user),
    logTail: () => child.outputTail(),
    stop: async () => {
      await child.stop();
      options.logger?.info({ imapPort }, 'dovecot stopped');
    },
  };
}

function validateUser(user: string, password: string): void {
  if (!userNamePattern.test(user)) {
    throw new Error(`Dovecot user name ${JSON.stringify(user)} is not allowed: use letters, digits, '.', '_', '-' and '@' only`);
  }
  if (/[:\r\n]/.test(password)) {
    throw new Error(`The password of Dovecot user ${user} contains ':' or a line break: passwd-file cannot store it, choose another`);
  }
}

/** Returns the uid and primary gid of a system user, or null when it does not exist. */
async function lookupUser(name: string): Promise<{ uid: number; gid: number } | null> {
  try {
    const uid = await execFileAsync('id', ['-u', name]);
    const gid = await execFileAsync('id', ['-g', name]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  } catch {
    return null;
  }
}

/** Creates the mail storage system user when missing and returns its uid and gid. */
async function ensureMailStorageUser(): Promise<{ uid: number; gid: number }> {
  const existing = await lookupUser(mailStorageUser);
  if (existing !== null) {
    return existing;
  }
  try {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', mailStorageUser]);
  } catch (error) {
    throw new Error(`Creating the system user ${mailStorageUser} failed: run as root, or create it with \`useradd --system ${mailStorageUser}\``, { cause: error });
  }
  const created = await lookupUser(mailStorageUser);
  if (created === null) {
    throw new Error(`The system user ${mailStorageUser} is still missing after useradd: create it by hand`);
  }
  return created;
}

interface ConfigValues {
  dir: string;
  mailDir: string;
  imapPort: number;
  imapsPort: number | null;
  pop3Port: number | null;
  pop3sPort: number | null;
  oauth2IntrospectionUrl: string | null;
}

/** Renders a complete standalone dovecot.conf (Dovecot 2.3 syntax). */
function renderConfig(values: ConfigValues): string {
  const { dir, mailDir, imapPort, imapsPort, pop3Port, pop3sPort, oauth2IntrospectionUrl } = values;
  const tls = imapsPort !== null;
  const protocols = pop3Port === null ? 'imap' : 'imap pop3';

  const imapsListener = tls
    ? `  inet_listener imaps {\n    address = 127.0.0.1\n    port = ${imapsPort}\n    ssl = yes\n  }\n`
    : `  inet_listener imaps {\n    port = 0\n  }\n`;
  const pop3Service = pop3Port === null
    ? ''
    : `service pop3-login {\n  inet_listener pop3 {\n    address = 127.0.0.1\n    port = ${pop3Port}\n  }\n  inet_listener pop3s {\n${pop3sPort === null ? '    port = 0\n' : `    address = 127.0.0.1\n    port = ${pop3sPort}\n    ssl = yes\n`}  }\n}\n`;
  const sslSettings = tls
    ? `ssl = yes\nssl_cert = <${join(dir, 'cert.pem')}\nssl_key = <${join(dir, 'key.pem')}\n`
    : 'ssl = no\n';

  return `# Generated by mailqueue's startDovecot for local tests; independent of /etc/dovecot.
instance_name = mailqueue-${imapPort}
base_dir = ${join(dir, 'run')}
state_dir = ${join(dir, 'state')}
protocols = ${protocols}
listen = 127.0.0.1
log_path = /dev/stderr
info_log_path = /dev/stderr
shutdown_clients = yes

default_login_user = ${dovecotLoginUser}
default_internal_user = ${dovecotInternalUser}

# Plain-text login is allowed because these instances listen on loopback only.
disable_plaintext_auth = no
auth_mechanisms = plain login${oauth2IntrospectionUrl === null ? '' : ' xoauth2 oauthbearer'}
# No delay after a failed login, so tests of wrong passwords stay fast.
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
${sslSettings}
${oauth2IntrospectionUrl === null ? '' : `passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = ${join(dir, 'oauth2.conf.ext')}\n}\n`}passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${join(dir, 'passwd')}${oauth2IntrospectionUrl === null ? '' : '\n  mechanisms = plain login'}
}
userdb {
  driver = static
  args = uid=${mailStorageUser} gid=${mailStorageUser} home=${mailDir}/%u
}

mail_location = maildir:${mailDir}/%u
first_valid_uid = 1
namespace inbox {
  inbox = yes
  separator = /
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${imapPort}
  }
${imapsListener}}
${pop3Service}`;
}
