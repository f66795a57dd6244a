import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

/**
 * A loopback address where TCP connects never complete, as with a firewalled or dead host.
 *
 * Loopback cannot drop packets, so this is approximated the way an overloaded server behaves: a
 * socket listens with a backlog of one in a worker thread whose event loop is blocked (so it
 * never accepts), and the accept queue is filled with idle connections. Linux then drops every
 * further SYN, and a client's connect waits until its own connect timeout, exactly as it would
 * for a blackholed address.
 */
export interface Blackhole {
  /** e.g. `http://127.0.0.1:41234` */
  url: string;
  close(): Promise<void>;
}

const LISTENER = `
const { parentPort, workerData } = require('node:worker_threads');
const server = require('node:net').createServer();
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  // Blocks this thread (and so every accept) until the main thread writes 1 and notifies.
  setImmediate(() => Atomics.wait(workerData, 0, 0));
});`;

/** Whether a connect to `port` completes within `withinMs`; a completed socket is kept in `held`. */
function connects(port: number, withinMs: number, held: Socket[]): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, withinMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      held.push(socket);
      resolve(true);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

export async function startBlackhole(): Promise<Blackhole> {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(LISTENER, { eval: true, workerData: gate });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const held: Socket[] = [];
  let filled = false;
  for (let attempt = 0; attempt < 16 && !filled; attempt += 1) filled = !(await connects(port, 300, held));
  if (!filled) throw new Error('the accept queue never filled: connects to a full backlog are not dropped here');

  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of held) socket.destroy();
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      await worker.terminate();
    },
  };
}

/** A loopback URL where nothing listens: connects are refused at once, as from a service that is down. */
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
