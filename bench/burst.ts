import { fork } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile } from './stats.ts';

/**
 * A burst: `connections` requests sent at the same moment, each on a connection of its own, each
 * given `answerWithinMs` to be answered. While they are in flight, probes are sent one after the
 * other (each on a fresh connection, from a process of their own) and timed; the memory of the
 * server's whole process tree is sampled all along. Written with node:http rather than autocannon: a burst is exactly one request
 * per connection, counted one by one, and autocannon reconnects and re-sends after errors.
 */
export interface BurstOptions {
  url: string;
  /** The request every connection sends. */
  request: BurstRequest;
  connections: number;
  /** A request not answered within this is counted as unanswered. */
  answerWithinMs: number;
  /** Sent in turn, one at a time, while the burst is in flight. */
  probes: BurstRequest[];
  /** Resident memory of the server's whole process tree, in KiB. */
  treeRssKiB(): number;
}

export interface BurstRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface Answer {
  /** 0 when no answer came (a connection error or the time limit). */
  status: number;
  subCode: string | undefined;
  retryAfter: string | undefined;
  requestId: string | undefined;
  ms: number;
  error?: string;
}

export interface BurstResult {
  connections: number;
  /** Requests answered with a status, within the time limit. */
  answered: number;
  /** Answers per `status sub_code`, e.g. `200 SUCCESS`, `429 RATE_LIMITED`; `no answer: <error>` for the rest. */
  outcomes: Record<string, number>;
  latencyMs: { p50: number; p99: number; max: number };
  /** Time from the first request sent to the last one settled. */
  wallMs: number;
  /** Every probe sent during the burst, with the request it was. */
  probes: Array<Answer & { probe: string }>;
  peakTreeRssKiB: number;
  startTreeRssKiB: number;
}

/** Sends one request on a connection of its own and reads its answer. */
export function send(url: string, spec: BurstRequest, withinMs: number): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const settle = (answer: Omit<Answer, 'ms'>) => resolve({ ...answer, ms: Math.round(performance.now() - started) });
    const body = spec.body === undefined ? undefined : Buffer.from(spec.body);
    const request = httpRequest(new URL(spec.path, url), {
      method: spec.method,
      agent: false,
      headers: { ...spec.headers, ...(body === undefined ? {} : { 'content-length': String(body.byteLength) }) },
      signal: AbortSignal.timeout(withinMs),
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        let subCode: string | undefined;
        try {
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { sub_code?: unknown };
          subCode = typeof parsed.sub_code === 'string' ? parsed.sub_code : undefined;
        } catch {
          subCode = undefined;
        }
        const header = (name: string) => {
          const value = response.headers[name];
          return Array.isArray(value) ? value.join(',') : value;
        };
        settle({ status: response.statusCode ?? 0, subCode, retryAfter: header('retry-after'), requestId: header('x-request-id') });
      });
      response.on('error', (error) => settle({ status: 0, subCode: undefined, retryAfter: undefined, requestId: undefined, error: error.name }));
    });
    request.on('error', (error: NodeJS.ErrnoException) =>
      settle({ status: 0, subCode: undefined, retryAfter: undefined, requestId: undefined, error: error.code ?? error.name }));
    request.end(body);
  });
}

export async function measureBurst(options: BurstOptions): Promise<BurstResult> {
  const startTreeRssKiB = options.treeRssKiB();
  let peakTreeRssKiB = startTreeRssKiB;
  const sampler = setInterval(() => {
    peakTreeRssKiB = Math.max(peakTreeRssKiB, options.treeRssKiB());
  }, 100);

  const started = performance.now();
  const burst = Array.from({ length: options.connections }, () => send(options.url, options.request, options.answerWithinMs));

  // Probes (bench/probe.ts) start once the burst is on its way and stop when its last request has settled.
  await sleep(200);
  const prober = fork(new URL('probe.ts', import.meta.url), [options.url, JSON.stringify(options.probes), String(options.answerWithinMs)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const probed = once(prober, 'message') as Promise<[BurstResult['probes']]>;
  const answers = await Promise.all(burst);
  prober.send('stop');
  const [probes] = await probed;
  const wallMs = Math.round(performance.now() - started);
  clearInterval(sampler);
  peakTreeRssKiB = Math.max(peakTreeRssKiB, options.treeRssKiB());

  const outcomes: Record<string, number> = {};
  for (const answer of answers) {
    const outcome = answer.status === 0 ? `no answer: ${answer.error ?? 'unknown'}` : `${answer.status} ${answer.subCode ?? '(no sub_code)'}`;
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  const latencies = answers.filter((answer) => answer.status !== 0).map((answer) => answer.ms).sort((a, b) => a - b);
  return {
    connections: options.connections,
    answered: latencies.length,
    outcomes,
    latencyMs: latencies.length === 0
      ? { p50: 0, p99: 0, max: 0 }
      : { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies.at(-1) ?? 0 },
    wallMs,
    probes,
    peakTreeRssKiB,
    startTreeRssKiB,
  };
}
