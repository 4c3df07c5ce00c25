import { createConnection, createServer } from 'node:net';

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago, by binding port 0 and closing.
 * Another process may take it before the caller binds it, which is acceptable for local servers.
 */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('Binding 127.0.0.1:0 returned no TCP address: check the loopback interface'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/**
 * Waits until `host:port` accepts a TCP connection and sends at least one line of data
 * (a server greeting), or `timeoutMs` milliseconds pass. Resolves with the first line.
 */
export async function waitForGreeting(host: string, port: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no attempt';

  while (Date.now() < deadline) {
    try {
      return await readFirstLine(host, port, Math.max(deadline - Date.now(), 1));
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`No greeting from ${host}:${port} within ${timeoutMs} ms (last error: ${lastError})`);
}

function readFirstLine(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    let received = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timed out')));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\n');
      if (end >= 0) {
        socket.destroy();
        resolve(received.slice(0, end).trimEnd());
      }
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before a full line arrived')));
  });
}

/** Returns true when nothing listens on 127.0.0.1:`port`, by binding it briefly. */
export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => {
      server.close(() => resolve(true));
    });
  });
}
