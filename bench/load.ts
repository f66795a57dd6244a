import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startDeepvueEmulator, type DeepvueEmulator } from '../test/support/deepvue-emulator.ts';
import { startLocalServer, type HeapReading, type LocalServer, type StartOptions } from '../test/support/local-server.ts';
import { CLIENT, fixtureImage } from '../test/support/relay.ts';
import { writeLoadResults } from './results-file.ts';
import { measureBurst, send, type Answer, type BurstRequest, type BurstResult } from './burst.ts';
import { median } from './stats.ts';
import { BENCH_CLIENT, startUpstream } from './upstream.ts';

/**
 * `npm run load`: `npm start` relaying to the Deepvue emulator on loopback, measured three ways.
 *
 * 1. Idle: resident memory of the whole `npm start` process tree (npm, its shell, the relay).
 * 2. Burst: 1,000 connections at once, one selfie each, every one to be answered within 60 s
 *    (200, or a 429/503 envelope); probes of both routes during the burst, each to be answered
 *    within 2 s; a good check answered 200 after it; the tree's peak memory within 1 GB.
 * 3. Sustained: 30 s of 16 connections, a quarter of the requests carrying injected faults (the
 *    emulator's `?sandbox=` outcomes: 503s, 500 envelopes, 429 storms, HTML, silence). Every
 *    response is checked against what the contract gives that request, and the memory, read after
 *    a full garbage collection (RSS read mid-run says little), must end where it started.
 *
 * 1 and 2 are measured beside a baseline in the same run: an HTTP server whose handler does
 * nothing (bench/empty-server.ts). The rows go into bench/results.md; the exit code is 1 when a
 * target is missed.
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
  server: Pick<LocalServer, 'treeRssKiB' | 'collectGarbage'>;
}

/** Memory of the server, after a full garbage collection. */
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
  /** The server before and after the run, each after a full GC, and its peak RSS during the run. */
  memory: { start: MemoryReading; end: MemoryReading; peakRssKiB: number };
}

/** Requests still in flight when autocannon stops (the slowest injected faults take 2 s) end within this. */
const SETTLE_MS = 2500;

async function readMemory(server: LoadOptions['server']): Promise<MemoryReading> {
  await sleep(SETTLE_MS);
  const heap = await server.collectGarbage();
  return { ...heap, rssKiB: server.treeRssKiB() };
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
    peakRssKiB = Math.max(peakRssKiB, server.treeRssKiB());
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

export interface LoadTarget {
  deepvue: DeepvueEmulator;
  server: LocalServer;
  stop(): Promise<void>;
}

/** The emulator on loopback and `npm start` relaying to it. */
export async function startLoadTarget(options: StartOptions = { inspect: true }, env: Record<string, string> = {}): Promise<LoadTarget> {
  const deepvue = await startDeepvueEmulator({ clients: { [CLIENT.id]: CLIENT.secret } });
  const server = await startLocalServer({
    DEEPVUE_BASE_URL: deepvue.baseUrl,
    DEEPVUE_CLIENT_ID: CLIENT.id,
    DEEPVUE_CLIENT_SECRET: CLIENT.secret,
    DEEPVUE_SECRET_ID: undefined,
    // The injected "no answer" ends at this deadline instead of 20 s.
    UPSTREAM_DEADLINE_MS: '2000',
    ...env,
  }, options);
  return {
    deepvue,
    server,
    stop: async () => {
      await server.stop();
      await deepvue.close();
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Idle and burst, beside the baseline

export const BURST = {
  connections: 1000,
  answerWithinMs: 60_000,
  probeWithinMs: 2000,
  peakTreeBytes: 1_000_000_000,
  idleTreeBytes: 400_000_000,
};

/** One selfie per connection (65 KB, 87 KB of base64). */
export const BURST_CHECK: BurstRequest = {
  method: 'POST',
  path: '/v1/liveness-check',
  headers: { 'content-type': 'application/json' },
  body: image(fixtureImage('spoof-printed-photo.jpg').toString('base64')),
};
/** The other function's route: throttling one function leaves the others answering. */
export const BURST_PROBES: BurstRequest[] = [BURST_CHECK, { method: 'GET', path: '/v1/liveness-results/uploads%2Fprobe.jpg' }];

/** What every answer of a burst against the relay must be. */
export const BURST_ANSWERS = new Set(['200 SUCCESS', '429 RATE_LIMITED', '503 UPSTREAM_UNAVAILABLE']);

interface Contender {
  url: string;
  treeRssKiB(): number;
  stop(): Promise<void>;
}

/** Median of resident memory over `ms`, once the process has settled. */
async function idleRssKiB(contender: Contender, ms = 3000): Promise<number> {
  await sleep(2000);
  const samples: number[] = [];
  for (let elapsed = 0; elapsed < ms; elapsed += 250) {
    samples.push(contender.treeRssKiB());
    await sleep(250);
  }
  return median(samples);
}

async function startBaseline(): Promise<Contender> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('empty-server.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const url = /listening on (\S+)/.exec(line.toString())?.[1];
  if (url === undefined) throw new Error(`the baseline server printed: ${line.toString()}`);
  const rssOf = () => {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]);
  };
  return {
    url,
    treeRssKiB: rssOf,
    stop: async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

export interface BurstRun {
  idleRssKiB: number;
  burst: BurstResult;
  after: Answer;
}

async function burstRun(contender: Contender): Promise<BurstRun> {
  const idle = await idleRssKiB(contender);
  const burst = await measureBurst({
    url: contender.url,
    request: BURST_CHECK,
    connections: BURST.connections,
    answerWithinMs: BURST.answerWithinMs,
    probes: BURST_PROBES,
    treeRssKiB: () => contender.treeRssKiB(),
  });
  await sleep(1000);
  const after = await send(contender.url, BURST_CHECK, BURST.answerWithinMs);
  return { idleRssKiB: idle, burst, after };
}

const MB = 1_000_000;
const mb = (kib: number) => `${((kib * 1024) / MB).toFixed(0)} MB`;
const outcomes = (burst: BurstResult) =>
  Object.entries(burst.outcomes).sort(([, a], [, b]) => b - a).map(([outcome, count]) => `${count} × ${outcome}`).join(', ');
const slowestProbe = (burst: BurstResult) => Math.max(...burst.probes.map((probe) => (probe.status === 0 ? Number.POSITIVE_INFINITY : probe.ms)));

interface Row {
  measure: string;
  relay: string;
  baseline: string;
  target: string;
  met: boolean;
}

function rows(relay: BurstRun, baseline: BurstRun): Row[] {
  const answeredWell = (run: BurstRun) =>
    Object.entries(run.burst.outcomes).filter(([outcome]) => BURST_ANSWERS.has(outcome)).reduce((sum, [, count]) => sum + count, 0);
  return [
    {
      measure: `Idle: RSS of the whole process tree`,
      relay: mb(relay.idleRssKiB),
      baseline: mb(baseline.idleRssKiB),
      target: `≤ ${BURST.idleTreeBytes / MB} MB`,
      met: relay.idleRssKiB * 1024 <= BURST.idleTreeBytes,
    },
    {
      measure: `Burst of ${BURST.connections} connections: answered within ${BURST.answerWithinMs / 1000} s with 200, 429 or 503 envelopes`,
      relay: `${answeredWell(relay)} / ${BURST.connections}`,
      baseline: `${baseline.burst.answered} / ${BURST.connections} (200 {})`,
      target: `${BURST.connections} / ${BURST.connections}`,
      met: answeredWell(relay) === BURST.connections,
    },
    {
      measure: 'Burst: answers',
      relay: outcomes(relay.burst),
      baseline: outcomes(baseline.burst),
      target: '—',
      met: true,
    },
    {
      measure: 'Burst: latency p50 / p99 / max',
      relay: `${relay.burst.latencyMs.p50} / ${relay.burst.latencyMs.p99} / ${relay.burst.latencyMs.max} ms`,
      baseline: `${baseline.burst.latencyMs.p50} / ${baseline.burst.latencyMs.p99} / ${baseline.burst.latencyMs.max} ms`,
      target: `max ≤ ${BURST.answerWithinMs / 1000} s`,
      met: relay.burst.answered === BURST.connections && relay.burst.latencyMs.max <= BURST.answerWithinMs,
    },
    {
      measure: 'Burst: peak RSS of the whole process tree',
      relay: mb(relay.burst.peakTreeRssKiB),
      baseline: mb(baseline.burst.peakTreeRssKiB),
      target: `≤ ${BURST.peakTreeBytes / MB} MB`,
      met: relay.burst.peakTreeRssKiB * 1024 <= BURST.peakTreeBytes,
    },
    {
      measure: `Burst: slowest of the probes sent during it (${BURST_PROBES.map((probe) => `${probe.method} ${probe.path.split('/')[2]}`).join(', ')} in turn)`,
      relay: `${slowestProbe(relay.burst)} ms (${relay.burst.probes.length} probes)`,
      baseline: `${slowestProbe(baseline.burst)} ms (${baseline.burst.probes.length} probes)`,
      target: `≤ ${BURST.probeWithinMs} ms`,
      met: slowestProbe(relay.burst) <= BURST.probeWithinMs,
    },
    {
      measure: 'After the burst: a good check',
      relay: `${relay.after.status} ${relay.after.subCode ?? ''} in ${relay.after.ms} ms`,
      baseline: `${baseline.after.status} in ${baseline.after.ms} ms`,
      target: '200',
      met: relay.after.status === 200,
    },
  ];
}

if (import.meta.main) {
  const started = performance.now();
  const loadAtStart = loadavg().map((load) => load.toFixed(2)).join(', ');
  const verdict: Record<string, boolean> = {};

  // 1 and 2: `npm start` as a user runs it, through npm, with its default limits and deadline,
  // relaying to the emulator in a process of its own (as Deepvue is), away from the burst's client.
  process.stderr.write('load: idle and burst, npm start\n');
  const upstream = await startUpstream();
  let relay: BurstRun;
  try {
    const server = await startLocalServer(
      { DEEPVUE_BASE_URL: upstream.baseUrl, DEEPVUE_CLIENT_ID: BENCH_CLIENT.id, DEEPVUE_CLIENT_SECRET: BENCH_CLIENT.secret, DEEPVUE_SECRET_ID: undefined },
      { viaNpm: true },
    );
    try {
      relay = await burstRun({ url: server.url, treeRssKiB: () => server.treeRssKiB(), stop: () => server.stop() });
    } finally {
      await server.stop();
    }
  } finally {
    upstream.stop();
  }
  process.stderr.write('load: idle and burst, baseline\n');
  const baselineServer = await startBaseline();
  let baseline: BurstRun;
  try {
    baseline = await burstRun(baselineServer);
  } finally {
    await baselineServer.stop();
  }
  const table = rows(relay, baseline);
  for (const row of table) verdict[row.measure] = row.met;

  // 3: sustained load, with an inspector for memory readings after a full GC.
  process.stderr.write('load: 30 s sustained with injected faults\n');
  // As many invocations as connections: this run checks answers and memory, not throttling.
  const sustainedTarget = await startLoadTarget({ inspect: true }, { LOCAL_CONCURRENCY: '16' });
  const forgetAgain = setInterval(() => sustainedTarget.deepvue.clearCalls(), 5000);
  let sustained: LoadResult;
  try {
    // Warm-up: tokens taken, modules compiled, pools opened; the run below starts from a steady state.
    await measureLoad({ url: sustainedTarget.server.url, durationSeconds: 5, connections: 16, server: sustainedTarget.server });
    sustained = await measureLoad({ url: sustainedTarget.server.url, durationSeconds: 30, connections: 16, server: sustainedTarget.server });
    verdict['Sustained: no errors but the injected ones'] = sustained.transportErrors === 0 && sustained.unexpected.length === 0;
    verdict['Sustained: server still up'] = sustainedTarget.server.running();
  } finally {
    clearInterval(forgetAgain);
    await sustainedTarget.stop();
  }
  const { start, end } = sustained.memory;
  const heapGrowth = (end.heapMiB - start.heapMiB) / start.heapMiB;
  // Memory is flat when, after a full GC, the JS heap ends within 10 % of where it started.
  verdict['Sustained: heap flat'] = heapGrowth <= 0.1;

  const [cpu] = cpus();
  const elapsedSeconds = ((performance.now() - started) / 1000).toFixed(0);
  const markdown = `## npm start under load

Written by \`npm run load\` (bench/load.ts); the relay and its baseline were measured in the same run.

- CPU: ${cpu?.model.trim() ?? 'unknown'}, ${cpus().length} cores; RAM: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB; Node ${process.version}
- Load average when the run started (other work on the machine): ${loadAtStart}
- Date: ${new Date().toISOString()}; duration: ${elapsedSeconds} s

| Measure | npm start | Baseline: empty handler | Target | Met |
| --- | --- | --- | --- | --- |
${table.map((row) => `| ${row.measure} | ${row.relay} | ${row.baseline} | ${row.target} | ${row.met ? 'yes' : '**no**'} |`).join('\n')}
| Sustained: 30 s, 16 connections, a quarter injected faults | ${sustained.requests} answers (${sustained.requestsPerSecond.toFixed(0)}/s), ${sustained.unexpected.length} unexpected, ${sustained.transportErrors} transport errors; p99 ${sustained.latencyMs.p99} ms | — | no errors but the injected ones | ${verdict['Sustained: no errors but the injected ones'] ? 'yes' : '**no**'} |
| Sustained: JS heap after a full GC, before → after | ${start.heapMiB} → ${end.heapMiB} MiB (tree RSS ${mb(start.rssKiB)} → ${mb(end.rssKiB)}, peak ${mb(sustained.memory.peakRssKiB)}) | — | ≤ +10 % | ${verdict['Sustained: heap flat'] ? 'yes' : '**no**'} |

How it is measured: \`npm start\` (started through npm, default limits: \`LOCAL_CONCURRENCY\` 10,
\`LOCAL_QUEUE_LENGTH\` 30, \`LOCAL_QUEUE_WAIT_MS\` 1000) relays to the Deepvue emulator, which runs
in a process of its own; the RSS of npm start's process tree (npm, its shell, the relay) is read
from /proc every 100 ms. Idle: the median over 3 s once ready. Burst: ${BURST.connections} POSTs of
a 65 KB selfie, each on its own connection, sent at once by node:http; probes, from a process of their own, alternate between
\`POST /v1/liveness-check\` and \`GET /v1/liveness-results/{key}\` (another function) every 250 ms
until the last answer. The baseline is bench/empty-server.ts, a node:http server that reads the body and answers \`200 {}\`.
Sustained: autocannon, 16 connections for 30 s after a 5 s warm-up, \`LOCAL_CONCURRENCY\` 16,
relaying to the emulator in the bench's process with a 2 s upstream deadline (so the injected
silence ends quickly), with an inspector for garbage collection (started without npm).`;
  writeLoadResults(markdown);
  console.log(markdown);
  console.log(JSON.stringify({ verdict, unexpected: sustained.unexpected, relay: { ...relay, burst: { ...relay.burst, probes: relay.burst.probes.map((probe) => `${probe.probe}: ${probe.status} in ${probe.ms} ms`) } } }, null, 2));
  process.exitCode = Object.values(verdict).every(Boolean) ? 0 : 1;
}
