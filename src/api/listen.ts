import type { Logger } from 'pino';
import { buildApiServer, type ApiDependencies } from './server.js';

/** Default address of `mailqueue api` and the dev stack's API: loopback only. */
export const DEFAULT_API_HOST = '127.0.0.1';
export const DEFAULT_API_PORT = 8080;

export interface RunningApi {
  /** Base URL, such as http://127.0.0.1:8080. */
  url: string;
  close(): Promise<void>;
}

function baseUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Builds the API and listens on `host:port` (port 0: a free one). Resolves once it
 * accepts connections; `close()` stops taking new ones and waits for open requests.
 */
export async function startApiServer(deps: ApiDependencies & { host: string; port: number; logger: Logger }): Promise<RunningApi> {
  const { app } = await buildApiServer(deps);
  try {
    await app.listen({ host: deps.host, port: deps.port });
  } catch (error) {
    await app.close();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`Port ${deps.port} on ${deps.host} is in use: stop what listens there, or choose another port (--port, or MAILQUEUE_API_PORT for the dev stack)`);
    }
    throw error;
  }

  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : deps.port;
  const url = baseUrl(deps.host, port);
  deps.logger.info({ url }, 'api started');
  return {
    url,
    close: async () => {
      await app.close();
      deps.logger.info({ url }, 'api stopped');
    },
  };
}
