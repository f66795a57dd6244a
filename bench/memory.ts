import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fixtureImage } from '../test/support/relay.ts';
import { runInChild, sendResult } from './child.ts';
import { directContender, relayContender } from './contenders.ts';

export type MemoryContender = 'relay' | 'direct';

export interface MemoryResult {
  contender: MemoryContender;
  imageBytes: number;
  /** Resident set size with the request already received, after a warm-up and a full GC. */
  idleRss: number;
  /** Highest resident set size while the check ran. */
  peakRss: number;
  /** How the peak was read: the kernel's high-water mark, or sampling where that is unavailable. */
  method: 'VmHWM' | 'sampled';
}

export const IMAGE_BYTES = 4 * 1024 * 1024;

/**
 * Row 4: the memory one check of a 4 MiB image takes above an idle container, measured in a fresh
 * process per run so that no other row's heap is counted. The request body is built before the
 * idle reading: API Gateway's event is what the runtime hands the handler, and it holds the
 * image as base64 text whatever the handler does.
 */
export function measureMemory(upstreamUrl: string, contender: MemoryContender): Promise<MemoryResult> {
  return runInChild(new URL(import.meta.url), {
    args: [upstreamUrl, contender],
    execArgv: ['--expose-gc'],
    // glibc otherwise raises its mmap threshold after the first large free and serves later large
    // buffers from memory it kept resident, which would hide them from the reading.
    env: { MALLOC_MMAP_THRESHOLD_: String(128 * 1024) },
  });
}

/**
 * A real photograph repeated to exactly 4 MiB, so it starts as a JPEG and is the largest image
 * MAX_IMAGE_BYTES accepts; the relay never decodes pixels, so what follows the first copy only
 * has to be there.
 */
export function fourMebibyteImage(): Buffer {
  return Buffer.alloc(IMAGE_BYTES, fixtureImage('face-480p.jpg'));
}

/** Linux resets its high-water mark on request, which makes the peak exact; elsewhere it is sampled. */
export function peakTracker(): { reset(): void; peak(): number; method: MemoryResult['method'] } {
  const hwm = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    if (Number.isFinite(hwm())) return { reset: () => writeFileSync('/proc/self/clear_refs', '5'), peak: hwm, method: 'VmHWM' };
  } catch {
    // Not Linux, or not allowed: sample instead.
  }
  let highest = 0;
  const timer = setInterval(() => {
    highest = Math.max(highest, process.memoryUsage.rss());
  }, 1);
  timer.unref();
  return {
    reset: () => {
      highest = process.memoryUsage.rss();
    },
    peak: () => Math.max(highest, process.memoryUsage.rss()),
    method: 'sampled',
  };
}

async function run(upstreamUrl: string, name: MemoryContender): Promise<MemoryResult> {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  const contender = await (name === 'relay' ? relayContender : directContender)(upstreamUrl);
  const small = JSON.stringify({ image: fixtureImage('face-480p.jpg').toString('base64') });
  for (let index = 0; index < 50; index += 1) await contender.prepare(small)();
  const check = contender.prepare(JSON.stringify({ image: fourMebibyteImage().toString('base64') }));
  const tracker = peakTracker();
  for (let index = 0; index < 3; index += 1) {
    gc();
    await sleep(20);
  }
  const idleRss = process.memoryUsage.rss();
  tracker.reset();
  await check();
  const peakRss = tracker.peak();
  await contender.close();
  return { contender: name, imageBytes: IMAGE_BYTES, idleRss, peakRss, method: tracker.method };
}

if (import.meta.main) {
  const [upstreamUrl, contender] = process.argv.slice(2);
  if (upstreamUrl === undefined || (contender !== 'relay' && contender !== 'direct')) throw new Error('usage: memory.ts <upstream URL> relay|direct');
  sendResult(await run(upstreamUrl, contender));
}
