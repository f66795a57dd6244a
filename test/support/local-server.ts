import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { expectDocumented } from './openapi.ts';
import { checkRecordsIn, type CapturedOutput } from './output.ts';

/**
 * The relay as `npm start` serves it (scripts/start.ts: the handlers in one process, embedded
 * dynalite and s3rver), started as a child process on a port the OS picks, for tests and
 * benches that need real HTTP.
 */
export interface LocalServer {
  /** e.g. `http://127.0.0.1:41234` */
  url: string;
  /** Resident set size in KiB of the whole process tree (`npm` and its shell included when started through npm). */
  treeRssKiB(): number;
  /**
   * Runs a full garbage collection in the process that runs the handlers, through the inspector,
   * and reads its JS heap: what memory the relay really holds, where RSS also counts garbage V8
   * has not collected yet. Needs `inspect`.
   */
  collectGarbage(): Promise<HeapReading>;
  /** True while the server process runs. */
  running(): boolean;
  /** The last 256 KiB the server printed. */
  output(): string;
  /** Every `LivenessCheck` EMF record the server has printed since it started. */
  checkRecords(): ReturnType<CapturedOutput['checkRecords']>;
  /** Resolves once the output kept holds `text`. */
  printed(text: string | RegExp, withinMs?: number): Promise<void>;
  /**
   * Sends a request to the relay and returns the answer once it has been checked against
   * docs/openapi.yaml: every answer a test gets from npm start over HTTP comes through here or
   * `rawExchange`, so the document cannot drift from the code.
   */
  request(path: string, options?: ServerRequest): Promise<ServerAnswer>;
  /**
   * Writes `raw` on a fresh connection, then one character of `drip` every 500 ms, and reads until
   * the server closes it: for requests no HTTP client would send. Checked like `request`.
   */
  rawExchange(raw: string, drip?: string): Promise<RawAnswer>;
  stop(): Promise<void>;
}

export interface ServerRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface ServerAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON when it is JSON, else its text. */
  body: unknown;
}

export interface RawAnswer {
  status: number;
  /** The status line and headers as the server wrote them. */
  head: string;
  body: unknown;
  ms: number;
}

/** Live JS heap of the handlers' process, in MiB, after a full collection. */
export interface HeapReading {
  heapMiB: number;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const OUTPUT_KEPT = 256 * 1024;

const parsedBody = (text: string, contentType: string | undefined): unknown => {
  if (contentType?.startsWith('application/json') !== true) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
};

async function requestDocumented(url: string, path: string, options: ServerRequest): Promise<ServerAnswer> {
  const method = options.method ?? 'GET';
  const answer = await request(`${url}${path}`, { method: method as 'GET', headers: options.headers ?? {}, body: options.body });
  const text = await answer.body.text();
  const { headers } = answer;
  await expectDocumented({ method, path: new URL(path, url).pathname, status: answer.statusCode, headers, body: text });
  return { status: answer.statusCode, headers, text, body: parsedBody(text, String(headers['content-type'] ?? '')) };
}

function rawExchangeDocumented(url: string, raw: string, drip: string): Promise<RawAnswer> {
  const started = Date.now();
  const { hostname, port } = new URL(url);
  const answered = new Promise<{ text: string; ms: number }>((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(raw));
    let sent = 0;
    const dripping = setInterval(() => {
      if (sent < drip.length && socket.writable) socket.write(drip.charAt((sent += 1) - 1));
    }, 500);
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('error', reject);
    socket.on('close', () => {
      clearInterval(dripping);
      resolve({ text, ms: Date.now() - started });
    });
    socket.setTimeout(60_000, () => socket.destroy());
  });
  return answered.then(async ({ text, ms }) => {
    const split = text.indexOf('\r\n\r\n');
    const head = text.slice(0, split);
    const headers = Object.fromEntries(
      head.split('\r\n').slice(1).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
    );
    const status = Number(text.slice(9, 12));
    const body = text.slice(split + 4);
    const [method = '', target = '/'] = raw.slice(0, raw.indexOf('\r\n')).split(' ');
    await expectDocumented({ method, path: new URL(target, url).pathname, status, headers, body });
    return { status, head, body: parsedBody(body, headers['content-type']), ms };
  });
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

export interface StartOptions {
  /** Open an inspector on a random loopback port, for `collectGarbage`. */
  inspect?: boolean;
  /** Start through `npm start` (npm and its shell are then part of the measured tree), not `node scripts/start.ts`. */
  viaNpm?: boolean;
  readyWithinMs?: number;
}

/**
 * Starts `npm start` with `env` over this process's environment (undefined deletes a variable)
 * and resolves once it says it is ready. PORT is 0 unless `env` names one: the OS picks it.
 */
export async function startLocalServer(env: Record<string, string | undefined>, options: StartOptions = {}): Promise<LocalServer> {
  const readyWithinMs = options.readyWithinMs ?? 90_000;
  const childEnv: Record<string, string | undefined> = { ...process.env, PORT: '0', ...env };
  if (options.inspect === true) childEnv.NODE_OPTIONS = `${childEnv.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:0`.trim();
  for (const [key, value] of Object.entries(childEnv)) if (value === undefined) delete childEnv[key];
  const [command, args] = options.viaNpm === true ? ['npm', ['start', '--silent']] : [process.execPath, ['scripts/start.ts']];
  const child = spawn(command, args, { cwd: repoRoot, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let printed = '';
  const keep = (chunk: Buffer) => {
    printed = (printed + chunk.toString('utf8')).slice(-OUTPUT_KEPT);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  // The handlers' EMF records, counted as they are printed, whole lines only.
  const records: ReturnType<CapturedOutput['checkRecords']> = [];
  let partialLine = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (partialLine + chunk.toString('utf8')).split('\n');
    partialLine = lines.pop() ?? '';
    records.push(...checkRecordsIn(lines.join('\n')));
  });
  const exited = once(child, 'exit');

  const waitFor = (text: string | RegExp, withinMs: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const seen = () => (typeof text === 'string' ? printed.includes(text) : text.test(printed));
      if (seen()) return resolve();
      const cleanUp = () => {
        clearTimeout(timer);
        child.stdout.off('data', check);
        child.stderr.off('data', check);
      };
      const check = () => {
        if (!seen()) return;
        cleanUp();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanUp();
        reject(new Error(`npm start did not print ${String(text)} within ${withinMs} ms:\n${printed.slice(-4000)}`));
      }, withinMs);
      child.stdout.on('data', check);
      child.stderr.on('data', check);
      void exited.then(() => {
        cleanUp();
        reject(new Error(`npm start exited before it printed ${String(text)}:\n${printed.slice(-4000)}`));
      });
    });

  const pid = child.pid ?? 0;
  const killTree = () => {
    for (const member of tree(pid).reverse()) {
      try {
        process.kill(member, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  try {
    await waitFor('[start] ready', readyWithinMs);
  } catch (error) {
    killTree();
    throw error;
  }

  const url = /\[start\] liveness-relay on (http:\/\/\S+)/.exec(printed)?.[1];
  if (url === undefined) throw new Error(`npm start printed no URL:\n${printed.slice(-4000)}`);
  const inspectorAddress = /Debugger listening on (ws:\/\/\S+)/.exec(printed)?.[1];
  let inspector: Promise<Inspector> | undefined;
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    url,
    treeRssKiB: () => tree(pid).reduce((sum, member) => sum + rssKiB(member), 0),
    collectGarbage: async () => {
      if (inspectorAddress === undefined) throw new Error('collectGarbage needs a server started with { inspect: true }');
      inspector ??= connectInspector(inspectorAddress);
      return (await inspector).heap();
    },
    running: alive,
    output: () => printed,
    checkRecords: () => [...records],
    printed: (text, withinMs = 30_000) => waitFor(text, withinMs),
    request: (path, options = {}) => requestDocumented(url, path, options),
    rawExchange: (raw, drip = '') => rawExchangeDocumented(url, raw, drip),
    stop: async () => {
      if (inspector !== undefined) (await inspector).close();
      if (!alive()) return;
      // start.ts stops its servers on SIGTERM; npm passes it on. SIGKILL only if that fails.
      child.kill('SIGTERM');
      const timer = setTimeout(killTree, 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

interface Inspector {
  heap(): Promise<HeapReading>;
  close(): void;
}

/** A Chrome DevTools Protocol session with the handlers' process. Written by hand: the protocol calls needed are two. */
async function connectInspector(address: string): Promise<Inspector> {
  const socket = new WebSocket(address);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error(`cannot reach the inspector at ${address}`)), { once: true });
  });
  let nextId = 0;
  const replies = new Map<number, (result: Record<string, unknown>) => void>();
  socket.addEventListener('message', (message) => {
    const reply = JSON.parse(String(message.data)) as { id?: number; result?: Record<string, unknown> };
    if (reply.id !== undefined) replies.get(reply.id)?.(reply.result ?? {});
  });
  const send = (method: string): Promise<Record<string, unknown>> => {
    const id = (nextId += 1);
    const reply = new Promise<Record<string, unknown>>((resolve) => replies.set(id, resolve));
    socket.send(JSON.stringify({ id, method, params: {} }));
    return reply;
  };
  return {
    heap: async () => {
      await send('HeapProfiler.collectGarbage');
      const { usedSize } = await send('Runtime.getHeapUsage');
      return { heapMiB: Math.round(Number(usedSize) / 1024 / 1024) };
    },
    close: () => socket.close(),
  };
}
