import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

import type { FakeOAuthServer } from './fake-oauth.js';

/** Creates a logger that keeps every line, so a test can search the log for secrets. */
export function capturingLogger(): { logger: Logger; text: () => string } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), text: () => lines.join('') };
}

/**
 * Opens the authorization URL as a browser would and returns the address the fake
 * redirected to. When `redirectUri` is given, the redirect must start with it.
 */
export async function signIn(fake: FakeOAuthServer, url: string, redirectUri?: string): Promise<string> {
  const response = await fake.openInBrowser(url);
  assert.equal(response.status, 302, `authorize failed with status ${response.status}: ${await response.text()}`);

  const location = response.headers.get('location');
  assert.ok(location !== null, 'the redirect has a Location header');
  if (redirectUri !== undefined) assert.ok(location.startsWith(redirectUri), `redirected to ${location}`);
  return location;
}
