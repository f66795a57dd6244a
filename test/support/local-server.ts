import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * The relay as `npm start` serves it (scripts/start.ts: serverless-offline with the same bundles
 * and handlers, embedded dynalite), started as a child process on a free 127.0.0.1 port, for
 * tests and benches that need real HTTP.
 */
export interface LocalServer {
  /** e.g. `http://127.0.0.1:41234` */
  url: string;
  /** Resident set size in KiB of the process that runs the handlers (serverless-offline and its worker threads). */
  handlerRssKiB(): number;
  /**
   * Runs a full garbage collection in serverless-offline's main thread and in every Lambda
   * instance (worker thread), through the inspector, and reads their JS heaps: what memory the
   * relay really holds, where RSS also counts garbage V8 has not collected yet. Needs `inspect`.
   */
  collectGarbage(): Promise<HeapReading>;
  /** True while the start script and serverless-offline both run. */
  running(): boolean;
  /** The last 256 KiB the server printed. */
  output(): string;
  stop(): Promise<void>;
}

/** Live JS heap, in MiB, after a full collection. */
export interface HeapReading {
  mainMiB: number;
  /** One entry per Lambda instance serverless-offline runs (one worker thread each). */
  instancesMiB: number[];
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const OUTPUT_KEPT = 256 * 1024;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Linux's view of a process: its children and resident memory, from /proc. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
function rssKiB(pid: number): number {
  try {
    const line = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return line === null ? 0 : Number(line[1]);
  } catch {
    return 0;
  }
}
const tree = (pid: number): number[] => [pid, ...childrenOf(pid).flatMap(tree)];

/**
 * Starts `node scripts/start.ts` with `env` over this process's environment (undefined deletes a
 * variable) and resolves once it says it is ready. With `inspect`, its processes open an
 * inspector on a random loopback port, for `collectGarbage`.
 */
export async function startLocalServer(
  env: Record<string, string | undefined>,
  options: { inspect?: boolean; readyWithinMs?: number } = {},
): Promise<LocalServer> {
  const readyWithinMs = options.readyWithinMs ?? 90_000;
  const port = await freePort();
  const childEnv: Record<string, string | undefined> = { ...process.env, PORT: String(port), ...env };
  if (options.inspect === true) childEnv.NODE_OPTIONS = `${childEnv.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:0`.trim();
  for (const [key, value] of Object.entries(childEnv)) if (value === undefined) delete childEnv[key];
  const child = spawn(process.execPath, ['scripts/start.ts'], { cwd: repoRoot, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let printed = '';
  const keep = (chunk: Buffer) => {
    printed = (printed + chunk.toString('utf8')).slice(-OUTPUT_KEPT);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);

  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start was not ready within ${readyWithinMs} ms:\n${printed.slice(-4000)}`)), readyWithinMs);
    const watch = () => {
      if (!printed.includes('[start] ready')) return;
      clearTimeout(timer);
      child.stderr.off('data', watch);
      resolve();
    };
    child.stderr.on('data', watch);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited (${signal ?? `code ${code}`}) before it was ready:\n${printed.slice(-4000)}`));
    });
  });
  try {
    await ready;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }

  const pid = child.pid ?? 0;
  // start.ts prints its own inspector address first, serverless-offline's second.
  const inspectorAddress = [...printed.matchAll(/Debugger listening on (ws:\/\/\S+)/g)].at(1)?.[1];
  let inspector: Promise<Inspector> | undefined;
  // scripts/start.ts runs serverless-offline as its one node child (dynalite lives in start.ts itself).
  const handlerPid = () => childrenOf(pid)[0];
  return {
    url: `http://127.0.0.1:${port}`,
    handlerRssKiB: () => {
      const handlers = handlerPid();
      return handlers === undefined ? 0 : rssKiB(handlers);
    },
    collectGarbage: async () => {
      if (inspectorAddress === undefined) throw new Error('collectGarbage needs a server started with { inspect: true }');
      inspector ??= connectInspector(inspectorAddress);
      return (await inspector).heaps();
    },
    running: () => child.exitCode === null && child.signalCode === null && handlerPid() !== undefined,
    output: () => printed,
    stop: async () => {
      if (inspector !== undefined) (await inspector).close();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      // start.ts stops serverless-offline and dynalite on SIGTERM; SIGKILL only if it does not.
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        for (const member of tree(pid).reverse()) {
          try {
            process.kill(member, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }, 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

interface Inspector {
  heaps(): Promise<HeapReading>;
  close(): void;
}

/**
 * A Chrome DevTools Protocol session with serverless-offline's main thread, reaching its worker
 * threads through the NodeWorker domain. Written by hand: the protocol calls needed are four.
 */
async function connectInspector(address: string): Promise<Inspector> {
  const socket = new WebSocket(address);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error(`cannot reach the inspector at ${address}`)), { once: true });
  });
  let nextId = 0;
  const replies = new Map<number, (result: Record<string, unknown>) => void>();
  const workers = new Set<string>();
  socket.addEventListener('message', (message) => {
    const data = JSON.parse(String(message.data)) as { id?: number; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown> };
    if (data.method === 'NodeWorker.attachedToWorker') workers.add(String(data.params?.sessionId));
    if (data.method === 'NodeWorker.detachedFromWorker') workers.delete(String(data.params?.sessionId));
    const reply = data.method === 'NodeWorker.receivedMessageFromWorker'
      ? (JSON.parse(String(data.params?.message)) as { id?: number; result?: Record<string, unknown> })
      : data;
    if (reply.id !== undefined) replies.get(reply.id)?.(reply.result ?? {});
  });
  const send = (method: string, params: object = {}, workerSession?: string): Promise<Record<string, unknown>> => {
    const id = (nextId += 1);
    const reply = new Promise<Record<string, unknown>>((resolve) => replies.set(id, resolve));
    const message = JSON.stringify({ id, method, params });
    socket.send(workerSession === undefined
      ? message
      : JSON.stringify({ id: (nextId += 1), method: 'NodeWorker.sendMessageToWorker', params: { sessionId: workerSession, message } }));
    return reply;
  };
  const heapOf = async (workerSession?: string): Promise<number> => {
    await send('HeapProfiler.collectGarbage', {}, workerSession);
    const { usedSize } = await send('Runtime.getHeapUsage', {}, workerSession);
    return Math.round(Number(usedSize) / 1024 / 1024);
  };
  await send('NodeWorker.enable', { waitForDebuggerOnStart: false });
  return {
    heaps: async () => {
      const instancesMiB: number[] = [];
      for (const session of workers) instancesMiB.push(await heapOf(session));
      return { mainMiB: await heapOf(), instancesMiB };
    },
    close: () => socket.close(),
  };
}
