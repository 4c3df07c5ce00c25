import { createServer } from 'node:http';
import { FailureType, MailqueueError } from '../errors.js';

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Returns true when the redirect URI is plain http on a loopback address, so this machine can receive it. */
export function isLoopbackRedirect(redirectUri: string): boolean {
  const url = new URL(redirectUri);
  return url.protocol === 'http:' && loopbackHosts.has(url.hostname) && url.port !== '';
}

/**
 * Listens on the redirect URI's loopback port until the browser arrives at its path, responds
 * with a short page, and resolves with the full callback URL (code and state, or an error).
 *
 * @throws MailqueueError InvalidConfiguration for a redirect URI that is not loopback http with a
 *   port; Timeout when no callback arrives within `timeoutMs`.
 */
export async function waitForLoopbackRedirect(redirectUri: string, timeoutMs: number): Promise<string> {
  if (!isLoopbackRedirect(redirectUri)) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Redirect URI ${redirectUri} is not http on a loopback address with a port, so this command cannot receive it: complete with \`mailqueue oauth callback '<URL>'\` instead`, {});
  }
  const expected = new URL(redirectUri);

  return new Promise<string>((resolve, reject) => {
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', `${expected.protocol}//${expected.host}`);
      if (url.pathname !== expected.pathname) {
        response.writeHead(404, { 'content-type': 'text/plain' });
        response.end('Not the mailqueue callback.\n');
        return;
      }
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      response.end('mailqueue received the sign-in. You can close this window and return to the terminal.\n');
      clearTimeout(timer);
      server.close();
      resolve(url.toString());
    });
    const timer = setTimeout(() => {
      server.close();
      reject(new MailqueueError(FailureType.Timeout, `No sign-in arrived at ${redirectUri} within ${Math.round(timeoutMs / 1000)} s: run \`mailqueue oauth connect\` again`, {}));
    }, timeoutMs);
    server.once('error', (error) => {
      clearTimeout(timer);
      reject(new MailqueueError(FailureType.ConnectionFailed, `Listening on ${expected.host} for the sign-in failed (${error.message}): free the port or complete with \`mailqueue oauth callback '<URL>'\``, {}, { cause: error }));
    });
    server.listen(Number(expected.port), expected.hostname.replace(/^\[|\]$/g, ''));
  });
}
