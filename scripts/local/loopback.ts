import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An HTTP server listening on a free port of 127.0.0.1. */
export interface LoopbackServer {
  /** e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Stops listening and ends open connections: SDK clients keep theirs alive, and `server.close` alone waits for them. */
  close(): Promise<void>;
}

/**
 * Starts `server` on a port of 127.0.0.1 the system picks: the dynalite of `npm start` and of the
 * tests, and the tests' stand-ins for AWS JSON services and the presigned POST's policy check.
 *
 * @example
 * const { url, close } = await listenOnLoopback(createServer(handle));
 */
export async function listenOnLoopback(server: Server): Promise<LoopbackServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
