import { performance } from 'node:perf_hooks';
import { fixtureImage } from '../test/support/relay.ts';
import { runInChild, sendResult } from './child.ts';
import { directContender, relayContender, type Contender } from './contenders.ts';
import { percentile } from './stats.ts';

export interface HotPathOptions {
  upstreamUrl: string;
  /** Checks of each contender before anything is timed: JIT, sockets, the relay's token. */
  warmup: number;
  /** Timed checks of each contender, alternating relay and direct so both see the same noise. */
  samples: number;
  /** How long each throughput run lasts. */
  throughputMs: number;
  /** Checks in flight in the throughput runs. */
  inFlight: number[];
}

export interface Percentiles {
  p50: number;
  p99: number;
}

export interface Throughput {
  inFlight: number;
  relayPerSecond: number;
  directPerSecond: number;
}

export interface HotPathResult {
  photoBytes: number;
  samples: number;
  relay: Percentiles;
  direct: Percentiles;
  throughput: Throughput[];
}

/** Rows 1 and 5: one warm container, in a fresh process, against the bench upstream. */
export function measureHotPath(options: HotPathOptions): Promise<HotPathResult> {
  return runInChild(new URL(import.meta.url), { args: [JSON.stringify(options)] });
}

function percentiles(durations: number[]): Percentiles {
  const sorted = durations.toSorted((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

/** Completed checks per second with `inFlight` callers looping for `durationMs`. */
async function checksPerSecond(contender: Contender, body: string, inFlight: number, durationMs: number): Promise<number> {
  const started = performance.now();
  const until = started + durationMs;
  let completed = 0;
  const caller = async () => {
    while (performance.now() < until) {
      await contender.prepare(body)();
      completed += 1;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, caller));
  return completed / ((performance.now() - started) / 1000);
}

async function run(options: HotPathOptions): Promise<HotPathResult> {
  const photo = fixtureImage('face-480p.jpg');
  const body = JSON.stringify({ image: photo.toString('base64') });
  const relay = await relayContender(options.upstreamUrl);
  const direct = await directContender(options.upstreamUrl);
  try {
    for (let index = 0; index < options.warmup; index += 1) {
      await relay.prepare(body)();
      await direct.prepare(body)();
    }
    const timed = { relay: [] as number[], direct: [] as number[] };
    for (let index = 0; index < options.samples; index += 1) {
      // Alternate which goes first, so neither always follows the other's garbage.
      const order = index % 2 === 0 ? (['relay', 'direct'] as const) : (['direct', 'relay'] as const);
      for (const name of order) {
        const call = (name === 'relay' ? relay : direct).prepare(body);
        const started = performance.now();
        await call();
        timed[name].push(performance.now() - started);
      }
    }
    const throughput: Throughput[] = [];
    for (const inFlight of options.inFlight) {
      const directPerSecond = await checksPerSecond(direct, body, inFlight, options.throughputMs);
      const relayPerSecond = await checksPerSecond(relay, body, inFlight, options.throughputMs);
      throughput.push({ inFlight, relayPerSecond, directPerSecond });
    }
    return { photoBytes: photo.byteLength, samples: options.samples, relay: percentiles(timed.relay), direct: percentiles(timed.direct), throughput };
  } finally {
    await Promise.all([relay.close(), direct.close()]);
  }
}

if (import.meta.main) {
  const options = JSON.parse(process.argv[2] ?? '{}') as HotPathOptions;
  sendResult(await run(options));
}
