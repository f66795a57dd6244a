import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An HTTP server listening on 127.0.0.1. */
export interface LoopbackServer {
  /** e.g. `http://127.0.0.1:41234`. */
  url: string;
  port: number;
  /** Stops listening and ends open connections: SDK clients keep theirs alive, and `server.close` alone waits for them. */
  close(): Promise<void>;
}

/**
 * Starts `server` on `port` of 127.0.0.1 (by default one the system picks, free). The local host
 * (`npm start`) and the tests' servers (dynalite, the Secrets Manager and EventBridge stand-ins,
 * the presigned POST's policy check) all start and stop this way.
 *
 * @example
 * const { url, close } = await listenOnLoopback(createServer(handle));
 */
export async function listenOnLoopback(server: Server, options: { port?: number; backlog?: number } = {}): Promise<LoopbackServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: options.port ?? 0, ...(options.backlog === undefined ? {} : { backlog: options.backlog }) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
