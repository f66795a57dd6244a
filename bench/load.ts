import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDeepvueEmulator, type DeepvueEmulator } from '../test/support/deepvue-emulator.ts';
import { startLocalServer, type HeapReading, type LocalServer } from '../test/support/local-server.ts';
import { CLIENT, fixtureImage } from '../test/support/relay.ts';

/**
 * `npm run load`: 30 s of 16 connections against the relay served as `npm start` serves it,
 * relaying to the Deepvue emulator on loopback, with a quarter of the requests carrying injected
 * faults (the emulator's `?sandbox=` outcomes: 503s, 500 envelopes, 429 storms, HTML, silence).
 * Every response is checked against what the contract says that request gets; the run passes
 * when nothing but the injected faults failed and the server's memory stayed flat. Memory is read
 * after a full garbage collection in every thread (through the inspector): under load V8 lets each
 * Lambda instance's heap grow long before it collects, so RSS read mid-run says little.
 */
interface AutocannonRequest {
  method: 'POST';
  path: string;
  headers: Record<string, string>;
  body: string;
  onResponse: (status: number, body: string) => void;
}
interface AutocannonResult {
  errors: number;
  timeouts: number;
  latency: { p50: number; p99: number; max: number };
  requests: { average: number };
}
// autocannon ships no type declarations; this is the one call made here.
const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  url: string;
  connections: number;
  duration: number;
  timeout: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;

/** One kind of request in the mix and the answer the contract gives it. */
interface LoadKind {
  name: string;
  body: string;
  status: number;
  subCode: string;
  /** A fault injected on purpose: its non-2xx answer is expected, not an error. */
  injected: boolean;
}

const image = (value: string) => JSON.stringify({ image: value });
const sandboxUrl = (outcome: string) => image(`https://images.example.com/load/selfie.jpg?sandbox=${outcome}`);
const kind = (name: string, body: string, status: number, subCode: string, injected = false): LoadKind => ({ name, body, status, subCode, injected });

const PHOTO = kind('base64 photo', image(fixtureImage('face-480p.jpg').toString('base64')), 200, 'SUCCESS');
const LIVE = kind('URL, live', sandboxUrl('live'), 200, 'SUCCESS');
/** The order every connection cycles through: 15 ordinary requests, 5 injected faults. */
const MIX: readonly LoadKind[] = [
  PHOTO,
  LIVE,
  kind('URL, spoof', sandboxUrl('spoof'), 200, 'SUCCESS'),
  kind('503 on every attempt', sandboxUrl('unavailable'), 503, 'UPSTREAM_UNAVAILABLE', true),
  PHOTO,
  kind('URL, no face', sandboxUrl('no-face'), 200, 'FACE_NOT_DETECTED'),
  kind('body not JSON', '{"image": ', 422, 'INVALID_REQUEST'),
  kind('500 envelope on every attempt', sandboxUrl('server-error'), 500, 'INTERNAL_SERVER_ERROR', true),
  PHOTO,
  kind('metadata-service URL', image('http://169.254.169.254/latest/meta-data/'), 422, 'INVALID_URL'),
  LIVE,
  kind('429 storm with Retry-After', sandboxUrl('rate-limited'), 429, 'RATE_LIMITED', true),
  PHOTO,
  kind('PDF instead of a photo', image(Buffer.from('%PDF-1.7\n%âãÏÓ\n').toString('base64')), 422, 'UNSUPPORTED_IMAGE_FORMAT'),
  LIVE,
  kind('HTML instead of JSON', sandboxUrl('not-json'), 502, 'UPSTREAM_ERROR', true),
  PHOTO,
  LIVE,
  kind('no answer', sandboxUrl('timeout'), 504, 'UPSTREAM_TIMEOUT', true),
  PHOTO,
];

export interface LoadOptions {
  url: string;
  durationSeconds: number;
  connections: number;
  /** The server under load, for its memory readings (started with `inspect`). */
  server: Pick<LocalServer, 'handlerRssKiB' | 'collectGarbage'>;
}

/** Memory of the process running the handlers, after a full garbage collection in every thread. */
export interface MemoryReading extends HeapReading {
  rssKiB: number;
}

export interface LoadResult {
  durationSeconds: number;
  connections: number;
  /** Responses received. */
  requests: number;
  /** Responses per kind of request. */
  byKind: Record<string, number>;
  /** Responses to injected faults: each got exactly the answer the contract gives that fault. */
  injectedFaults: number;
  /** Connection errors and timeouts: none is expected. */
  transportErrors: number;
  /** Responses that were not what the contract gives their request (the first 20). */
  unexpected: string[];
  latencyMs: { p50: number; p99: number; max: number };
  requestsPerSecond: number;
  /** serverless-offline's process (where the handlers run) before and after the run, each after a full GC. */
  memory: { start: MemoryReading; end: MemoryReading; peakRssKiB: number };
}

/** Requests still in flight when autocannon stops (the slowest injected faults take 2 s) end within this. */
const SETTLE_MS = 2500;

async function readMemory(server: LoadOptions['server']): Promise<MemoryReading> {
  await sleep(SETTLE_MS);
  const heaps = await server.collectGarbage();
  return { ...heaps, rssKiB: server.handlerRssKiB() };
}

/** Runs the mix against `url` for `durationSeconds` and checks every response. */
export async function measureLoad(options: LoadOptions): Promise<LoadResult> {
  const { server } = options;
  const byKind: Record<string, number> = {};
  const unexpected: string[] = [];
  let requests = 0;
  let injectedFaults = 0;
  const requestsOfMix = MIX.map((expected): AutocannonRequest => ({
    method: 'POST',
    path: '/v1/liveness-check',
    headers: { 'content-type': 'application/json' },
    body: expected.body,
    onResponse: (status, body) => {
      requests += 1;
      byKind[expected.name] = (byKind[expected.name] ?? 0) + 1;
      let subCode: unknown;
      try {
        subCode = (JSON.parse(body) as { sub_code?: unknown }).sub_code;
      } catch {
        subCode = `(not JSON: ${body.slice(0, 60)})`;
      }
      if (status === expected.status && subCode === expected.subCode) {
        if (expected.injected) injectedFaults += 1;
      } else if (unexpected.length < 20) {
        unexpected.push(`${expected.name}: expected ${expected.status} ${expected.subCode}, got ${status} ${String(subCode)}`);
      }
    },
  }));

  const start = await readMemory(server);
  let peakRssKiB = start.rssKiB;
  const sampler = setInterval(() => {
    peakRssKiB = Math.max(peakRssKiB, server.handlerRssKiB());
  }, 500);
  let result: AutocannonResult;
  try {
    result = await autocannon({
      url: options.url,
      connections: options.connections,
      duration: options.durationSeconds,
      timeout: 30,
      requests: requestsOfMix,
    });
  } finally {
    clearInterval(sampler);
  }
  const end = await readMemory(server);
  return {
    durationSeconds: options.durationSeconds,
    connections: options.connections,
    requests,
    byKind,
    injectedFaults,
    transportErrors: result.errors + result.timeouts,
    unexpected,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    requestsPerSecond: result.requests.average,
    memory: { start, end, peakRssKiB },
  };
}

/** Memory is flat when, after a full GC, RSS and every JS heap end within this share of where they started. */
const FLAT_GROWTH = 0.1;
const total = (reading: HeapReading) => reading.mainMiB + reading.instancesMiB.reduce((sum, heap) => sum + heap, 0);
const growth = (from: number, to: number) => (to - from) / from;

export interface LoadTarget {
  deepvue: DeepvueEmulator;
  server: LocalServer;
  stop(): Promise<void>;
}

/** The emulator on loopback and `npm start` relaying to it, with an inspector for memory readings. */
export async function startLoadTarget(): Promise<LoadTarget> {
  const deepvue = await startDeepvueEmulator({ clients: { [CLIENT.id]: CLIENT.secret } });
  const server = await startLocalServer({
    DEEPVUE_BASE_URL: deepvue.baseUrl,
    DEEPVUE_CLIENT_ID: CLIENT.id,
    DEEPVUE_CLIENT_SECRET: CLIENT.secret,
    DEEPVUE_SECRET_ID: undefined,
    // The injected "no answer" ends at this deadline instead of 20 s.
    UPSTREAM_DEADLINE_MS: '2000',
  }, { inspect: true });
  return {
    deepvue,
    server,
    stop: async () => {
      await server.stop();
      await deepvue.close();
    },
  };
}

if (import.meta.main) {
  const target = await startLoadTarget();
  const { server } = target;
  // The emulator's call log would otherwise hold every image sent during the run.
  const forget = setInterval(() => target.deepvue.clearCalls(), 5000);
  try {
    // Warm-up: serverless-offline starts one Lambda instance (worker thread) per connection, each
    // loads the handler and takes a token; the run below then starts from a steady state.
    await measureLoad({ url: server.url, durationSeconds: 5, connections: 16, server });
    const result = await measureLoad({ url: server.url, durationSeconds: 30, connections: 16, server });
    const { start, end } = result.memory;
    const rssGrowth = growth(start.rssKiB, end.rssKiB);
    const heapGrowth = growth(total(start), total(end));
    const verdict = {
      noErrorsButInjected: result.transportErrors === 0 && result.unexpected.length === 0,
      memoryFlat: rssGrowth <= FLAT_GROWTH && heapGrowth <= FLAT_GROWTH,
      serverUp: server.running(),
    };
    const percent = (share: number) => `${(share * 100).toFixed(1)} %`;
    console.log(JSON.stringify({ ...result, rssGrowth: percent(rssGrowth), heapGrowth: percent(heapGrowth), verdict }, null, 2));
    process.exitCode = Object.values(verdict).every(Boolean) ? 0 : 1;
  } finally {
    clearInterval(forget);
    await target.stop();
  }
}
