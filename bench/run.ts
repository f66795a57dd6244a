/**
 * `npm run bench`: every row of the relay's performance table, each measured in this run beside
 * its baseline, printed as markdown and written to bench/results.md. Each measurement runs in a
 * fresh process; the Deepvue emulator runs in a process of its own.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { measureAuthorizeCalls } from './authorize-calls.ts';
import { measureCapture } from './capture.ts';
import { DECODE_CASES, measureDecode, type DecodeCase } from './decode.ts';
import { measureGuidance } from './guidance.ts';
import { measurePrescreen } from './prescreen.ts';
import { measureReplay, UPSTREAM_LATENCY_MS } from './replay.ts';
import { measureSigning } from './signing.ts';
import { MAX_DECODE_BYTES, MAX_DECODE_PIXELS } from '../lib/check/pixels.ts';
import { CHROMIUM_PATH, chromiumFound } from '../test/support/browser.ts';
import { bundleFunctions, bundleLibrariesAlone, measureImports, type BundledFunction } from './cold-start.ts';
import { measureFirstEvents } from './first-event.ts';
import { measureHotPath } from './hot-path.ts';
import { measureMemory, type MemoryContender } from './memory.ts';
import { measurePaidCalls, type PaidCallsOptions, type PaidCallsResult } from './paid-calls.ts';
import { COST_CHECKS, COST_SECTION, measureCost } from './cost/cost.ts';
import { writeBenchResults, writeSection } from './results-file.ts';
import { median } from './stats.ts';
import { startUpstream } from './upstream.ts';

const SETTINGS = {
  warmup: 300,
  samples: 2000,
  throughputMs: 3000,
  inFlight: [1, 16],
  memoryRuns: 3,
  coldStartRounds: 61,
  firstEventRounds: 15,
  captureRuns: 10,
  guidanceRuns: 5,
  prescreenSamples: 100,
  prescreenRounds: 7,
  decodeRuns: 3,
  replaySamples: 100,
  checks: 1000,
  containers: 20,
  paidCalls: {
    uploads: 200,
    uploadContainers: 3,
    apiContainers: 2,
    apiPauseMs: 2000,
    timeScale: 20,
    marginMs: 100,
    capMs: 150_000,
  } satisfies Omit<PaidCallsOptions, 'limiter'>,
};
const MB = 1_000_000;
const MiB = 1024 * 1024;

interface Row {
  measure: string;
  relay: string;
  baseline: string;
  difference: string;
  ratio: string;
  target: string;
  met: boolean | undefined;
}

const progress = (text: string) => process.stderr.write(`bench: ${text}\n`);
const ms = (value: number) => `${value.toFixed(2)} ms`;
const ratio = (relay: number, baseline: number) => (baseline === 0 ? '—' : `${(relay / baseline).toFixed(2)}×`);
const signed = (value: number, format: (value: number) => string) => `${value >= 0 ? '+' : '−'}${format(Math.abs(value))}`;
/** A row measured against its baseline, without a target. */
const compared = (measure: string, relay: number, baseline: number, format: (value: number) => string): Row => ({
  measure,
  relay: format(relay),
  baseline: format(baseline),
  difference: signed(relay - baseline, format),
  ratio: ratio(relay, baseline),
  target: '—',
  met: undefined,
});

/** The rows in the table's order; the sections that share the upstream process are measured first. */
async function measure(): Promise<Row[]> {
  const perCheck: Row[] = [];
  const coldStart: Row[] = [];
  const authorize: Row[] = [];
  const memory: Row[] = [];
  const throughput: Row[] = [];
  const prescreen: Row[] = [];
  const signing: Row[] = [];
  const upstream = await startUpstream();
  try {
    progress(`1 and 5: ${SETTINGS.samples} timed checks each way, then ${SETTINGS.throughputMs / 1000} s load runs`);
    const hot = await measureHotPath({ upstreamUrl: upstream.baseUrl, ...SETTINGS });
    const photo = `${Math.round(hot.photoBytes / 1024)} KiB photo`;
    for (const [name, limit] of [['p50', 1], ['p99', 3]] as const) {
      const added = hot.relay[name] - hot.direct[name];
      perCheck.push({
        measure: `1. Time per check, ${name} (${photo}; baseline: direct undici POST)`,
        relay: ms(hot.relay[name]),
        baseline: ms(hot.direct[name]),
        difference: signed(added, ms),
        ratio: ratio(hot.relay[name], hot.direct[name]),
        target: `≤ ${limit} ms added`,
        met: added <= limit,
      });
    }

    progress(`4: peak RSS with a 4 MiB image, ${SETTINGS.memoryRuns} fresh processes each way`);
    const aboveIdle = async (contender: MemoryContender) => {
      const runs: number[] = [];
      for (let run = 0; run < SETTINGS.memoryRuns; run += 1) {
        const result = await measureMemory(upstream.baseUrl, contender);
        runs.push(result.peakRss - result.idleRss);
      }
      return median(runs);
    };
    const relayRss = await aboveIdle('relay');
    const directRss = await aboveIdle('direct');
    const mib = (value: number) => `${(value / MiB).toFixed(1)} MiB`;
    memory.push({
      measure: '4. Peak RSS above idle, handling a 4 MiB image (baseline: direct undici POST)',
      relay: mib(relayRss),
      baseline: mib(directRss),
      difference: signed(relayRss - directRss, mib),
      ratio: ratio(relayRss, directRss),
      target: `≤ 3 × image = ${mib(3 * 4 * MiB)}`,
      met: relayRss <= 3 * 4 * MiB,
    });

    for (const { inFlight, relayPerSecond, directPerSecond } of hot.throughput) {
      const perSecond = (value: number) => `${value.toFixed(0)}/s`;
      throughput.push({
        measure: `5. Checks per second, one container, ${inFlight === 1 ? 'sequential' : `${inFlight} in flight`} (baseline: direct)`,
        relay: perSecond(relayPerSecond),
        baseline: perSecond(directPerSecond),
        difference: signed(relayPerSecond - directPerSecond, perSecond),
        ratio: ratio(relayPerSecond, directPerSecond),
        target: '—',
        met: undefined,
      });
    }

    progress(`9: the face pre-screen, ${SETTINGS.prescreenSamples} checks each way, ${SETTINGS.prescreenRounds} fresh starts of its package`);
    prescreen.push(...(await prescreenRows(upstream.baseUrl)));

    progress(`11: ${SETTINGS.samples} checks with signing on and off`);
    signing.push(...(await signingRows(upstream.baseUrl)));
  } finally {
    upstream.stop();
  }

  progress(`2: bundling every function, then ${SETTINGS.coldStartRounds} fresh imports and ${SETTINGS.firstEventRounds} Lambda-like cold starts of each`);
  coldStart.push(...(await measureColdStartRows()));

  progress(`3: ${SETTINGS.checks} checks over ${SETTINGS.containers} cold containers`);
  const { shared, alone } = await measureAuthorizeCalls(SETTINGS.checks, SETTINGS.containers);
  if (shared.failedChecks > 0 || alone.failedChecks > 0) throw new Error('checks failed while counting authorize calls');
  authorize.push({
    measure: `3. Authorize calls per ${shared.checks.toLocaleString('en-US')} checks, ${shared.containers} cold containers (baseline: no TOKEN_TABLE)`,
    relay: String(shared.authorizeCalls),
    baseline: String(alone.authorizeCalls),
    difference: signed(shared.authorizeCalls - alone.authorizeCalls, String),
    ratio: ratio(shared.authorizeCalls, alone.authorizeCalls),
    target: '1',
    met: shared.authorizeCalls === 1,
  });
  const paid = await measurePaidCallRows();
  return [...perCheck, ...coldStart, ...authorize, ...memory, ...throughput, ...paid, ...(await measureCapturePage()), ...(await guidanceRows()), ...prescreen, ...(await decodeRows()), ...signing, ...(await replayRows())];
}

/** Row 2: each function's bundle, its import in a fresh process, and its Lambda-like cold start. */
async function measureColdStartRows(): Promise<Row[]> {
  const outdir = mkdtempSync(join(tmpdir(), 'relay-bench-'));
  try {
    const bundles = await bundleFunctions(outdir);
    const librariesAlone = await bundleLibrariesAlone(outdir);
    const imports = measureImports([...bundles, librariesAlone], SETTINGS.coldStartRounds);
    const firstEvents = await measureFirstEvents(bundles, SETTINGS.firstEventRounds);
    const mb = (bytes: number) => `${(bytes / MB).toFixed(2)} MB`;
    const spread = (runs: number[] | undefined) => (runs === undefined ? '' : ` (${Math.min(...runs).toFixed(0)}–${Math.max(...runs).toFixed(0)})`);
    /** The import of module `index` of measureImports against the empty module. */
    const importRow = (index: number, measure: string, limitMs?: number): Row => {
      const startMs = imports.startMs[index] ?? Number.NaN;
      const emptyMs = imports.emptyMs[index] ?? Number.NaN;
      return {
        measure: `${measure}, median (min–max) (baseline: empty module)`,
        relay: `${ms(startMs)}${spread(imports.runs[index])}`,
        baseline: ms(emptyMs),
        difference: signed(startMs - emptyMs, ms),
        ratio: ratio(startMs, emptyMs),
        target: limitMs === undefined ? '—' : `≤ ${limitMs} ms added`,
        met: limitMs === undefined ? undefined : startMs - emptyMs <= limitMs,
      };
    };
    const measured = bundles.flatMap((bundle, index): Row[] => {
      const first = firstEvents[index];
      const rows: Row[] = [
        {
          measure: `2. ${bundle.name}: minified code, all of it (loaded at start)`,
          relay: `${mb(bundle.bytes)} (${mb(bundle.startBytes)})`,
          baseline: '—',
          difference: '—',
          ratio: '—',
          target: '≤ 1 MB',
          met: bundle.bytes <= MB,
        },
        importRow(index, `2. ${bundle.name}: fresh process importing the bundle`, 100),
      ];
      if (first !== undefined) {
        rows.push({
          measure: `2. ${bundle.name}: Lambda-like cold start, fresh process importing the bundle and answering its first event, median (min–max) (baseline: empty handler)`,
          relay: `${ms(first.totalMs)}${spread(first.runs)}`,
          baseline: ms(first.emptyMs),
          difference: signed(first.totalMs - first.emptyMs, ms),
          ratio: ratio(first.totalMs, first.emptyMs),
          target: '—',
          met: undefined,
        }, {
          measure: `2. ${bundle.name}: of which, inside the process: import, then first answer (medians)`,
          relay: `${ms(first.importMs)} + ${ms(first.answerMs)}`,
          baseline: '—',
          difference: '—',
          ratio: '—',
          target: '—',
          met: undefined,
        });
      }
      return rows;
    });
    measured.push(importRow(bundles.length, '2. The libraries alone: fresh process importing a bundle that only builds what livenessCheck builds at init from the AWS SDK, undici, Powertools and file-type'));
    measured.push(...checkingFunctionRows(bundles, imports.startMs));
    return measured;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * Rows 2 of the two checking functions with what their zips add beside the bundle, the pixel
 * decoder's package (none of it loaded at start), and livenessCheck's import against the
 * libraries alone (its own code's share of a cold start).
 */
function checkingFunctionRows(bundles: BundledFunction[], startMs: number[]): Row[] {
  const decoderBytes = statSync(fileURLToPath(new URL('../.build/pixels/decode.mjs', import.meta.url))).size;
  const mb = (bytes: number) => `${(bytes / MB).toFixed(2)} MB`;
  const rows: Row[] = bundles.filter((bundle) => bundle.name === 'livenessCheck' || bundle.name === 's3Upload').map((bundle) => ({
    measure: `2. ${bundle.name}: code with the pixel decoder's package beside the bundle (${mb(decoderBytes)}, loaded in its own thread, never at start)`,
    relay: mb(bundle.bytes + decoderBytes),
    baseline: mb(bundle.bytes),
    difference: signed(decoderBytes, mb),
    ratio: ratio(bundle.bytes + decoderBytes, bundle.bytes),
    target: '≤ 1 MB',
    met: bundle.bytes + decoderBytes <= MB,
  }));
  const check = bundles.findIndex((bundle) => bundle.name === 'livenessCheck');
  const alone = startMs[bundles.length] ?? Number.NaN;
  const own = (startMs[check] ?? Number.NaN) - alone;
  rows.push({ ...compared('2. livenessCheck: import, fresh process, median (baseline: the libraries alone)', alone + own, alone, ms), target: '≤ 15 ms added', met: own <= 15 });
  return rows;
}

/** Rows 12: replay detection's cost to a check, against an upstream that answers as slowly as Deepvue. */
async function replayRows(): Promise<Row[]> {
  progress(`12: replay detection, ${SETTINGS.replaySamples} checks of each policy against a ${UPSTREAM_LATENCY_MS} ms upstream, then the decode and hash of a 100 KiB and a ~4 MiB photo`);
  const cost = await measureReplay(SETTINGS.replaySamples);
  const name = (what: string) => `12. Replayed images: ${what}`;
  const photo = `${Math.round(cost.photoBytes / 1024)} KiB photo`;
  const { off, flag, refuse } = cost.sides;
  const none = { baseline: '—', difference: '—', ratio: '—', target: '—', met: undefined };
  return [
    { ...compared(name(`REPLAY_POLICY=flag, time per check, p50 (${photo}, upstream ${UPSTREAM_LATENCY_MS} ms, ${cost.samples} checks; baseline: off)`), flag.p50, off.p50, ms), target: '≤ 1 ms added', met: flag.p50 - off.p50 <= 1 },
    compared(name('REPLAY_POLICY=flag, time per check, p95'), flag.p95, off.p95, ms),
    compared(name('REPLAY_POLICY=refuse, time per check, p50 (the lookup before the call; baseline: off)'), refuse.p50, off.p50, ms),
    compared(name('REPLAY_POLICY=refuse, time per check, p95'), refuse.p95, off.p95, ms),
    compared(name('REPLAY_POLICY=flag, CPU of the relay\'s process a check, median (the decode, the hash, 57 Queries and the writes signed and read; baseline: off)'), flag.cpuMs, off.cpuMs, ms),
    ...cost.hashes.map((hash): Row => ({
      measure: name(`decode, then perceptual hash, of ${hash.name} (${hash.width}×${hash.height}), medians`),
      relay: hash.decoded ? `${ms(hash.decodeMs)} + ${ms(hash.hashMs)}` : `not decoded (${ms(hash.decodeMs)}): exact digest only`,
      ...none,
    })),
  ];
}

/** Row 6: the same burst with DEEPVUE_RATE_LIMITS (the relay) and without (the baseline). */
async function measurePaidCallRows(): Promise<Row[]> {
  const { uploads, uploadContainers, apiContainers, timeScale } = SETTINGS.paidCalls;
  progress(`6: ${uploads} uploads through ${uploadContainers} s3Upload containers and API checks from ${apiContainers}, Starter ×${timeScale}, with the limiter then without`);
  const relay = await measurePaidCalls({ ...SETTINGS.paidCalls, limiter: true });
  const baseline = await measurePaidCalls({ ...SETTINGS.paidCalls, limiter: false });
  const count = (value: number) => String(value);
  const row = (measure: string, pick: (result: PaidCallsResult) => number, format: (value: number) => string, target: string, met: (value: number) => boolean | undefined): Row => ({
    measure: `6. ${measure}`,
    relay: format(pick(relay)),
    baseline: format(pick(baseline)),
    difference: signed(pick(relay) - pick(baseline), format),
    ratio: ratio(pick(relay), pick(baseline)),
    target,
    met: met(pick(relay)),
  });
  const seconds = (value: number) => `${(value / 1000).toFixed(1)} s`;
  return [
    row(
      `Upstream 429s: ${uploads} uploads through ${uploadContainers} s3Upload containers, API checks from ${apiContainers}, Starter ×${timeScale} (baseline: no DEEPVUE_RATE_LIMITS)`,
      (result) => result.upstream429,
      count,
      '0',
      (value) => value === 0,
    ),
    row('Uploads COMPLETED', (result) => result.completed, count, `${uploads}`, (value) => value === uploads),
    row('Uploads dead-lettered', (result) => result.deadLettered, count, '0', (value) => value === 0),
    row('Uploaded images paid exactly once', (result) => result.paidOnce, count, `${uploads}`, (value) => value === uploads),
    row('Uploaded images paid more than once', (result) => result.paidMoreThanOnce, count, '0', (value) => value === 0),
    row('API checks answered 429', (result) => result.api429, count, '0', (value) => value === 0),
    row(`API check time p50 (of ${relay.apiChecks} / ${baseline.apiChecks} checks)`, (result) => result.apiP50Ms, ms, '—', () => undefined),
    row('API check time p99, waits for the limiter included', (result) => result.apiP99Ms, ms, '—', () => undefined),
    row('Upstream calls, retries included', (result) => result.upstreamChecks, count, '—', () => undefined),
    row('Uploads sent back to the queue to wait', (result) => result.requeued, count, '—', () => undefined),
    row('Time to drain the burst', (result) => result.drainMs, seconds, '—', () => undefined),
  ];
}

/** Rows 7: the capture page in Chromium, when there is one. */
async function measureCapturePage(): Promise<Row[]> {
  const name = (what: string) => `7. Capture page: ${what}`;
  if (!chromiumFound) {
    progress(`7: skipped, no Chromium at ${CHROMIUM_PATH}`);
    const skipped = { relay: 'not measured: no Chromium', baseline: '—', difference: '—', ratio: '—', target: '—', met: undefined };
    return [{ measure: name('"Take photo" → "All done"'), ...skipped }];
  }
  progress(`7: ${SETTINGS.captureRuns} selfies through the capture page in Chromium, then as many direct checks`);
  const capture = await measureCapture(SETTINGS.captureRuns);
  const rows: Row[] = (['p50', 'p95'] as const).map((stat) =>
    compared(name(`"Take photo" → "All done", ${stat} (${capture.runs} runs; baseline: one POST /v1/liveness-check of the photo)`), capture.page[stat], capture.direct[stat], ms));
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
  rows.push({
    measure: name(`size gzipped (HTML with its script and styles; ${kb(capture.bytes)} uncompressed)`),
    relay: kb(capture.gzipBytes),
    baseline: '—',
    difference: '—',
    ratio: '—',
    target: '≤ 50 KB',
    met: capture.gzipBytes <= 50 * 1024,
  });
  return rows;
}

/** Rows 8: the capture page's face guide in Chromium, when there is one. */
async function guidanceRows(): Promise<Row[]> {
  const name = (what: string) => `8. Face guide: ${what}`;
  const none = { baseline: '—', difference: '—', ratio: '—' };
  if (!chromiumFound) return [{ measure: name('in Chromium'), relay: 'not measured: no Chromium', ...none, target: '—', met: undefined }];
  progress(`8: the face guide in Chromium, ${SETTINGS.guidanceRuns} page loads`);
  const guide = await measureGuidance(SETTINGS.guidanceRuns);
  const kB = (bytes: number) => `${(bytes / 1000).toFixed(1)} kB`;
  return [
    { measure: name(`detector download, gzipped (worker script, model, weights, WebAssembly; ${kB(guide.downloadBytes)} uncompressed)`), relay: kB(guide.downloadGzipBytes), ...none, target: '≤ 450 kB', met: guide.downloadGzipBytes <= 450_000 },
    { measure: name(`page opened → detector ready, p50 (${guide.runs} page loads, empty cache)`), relay: ms(guide.ready.p50), ...none, target: '—', met: undefined },
    { measure: name('page opened → detector ready, p95'), relay: ms(guide.ready.p95), ...none, target: '—', met: undefined },
    { measure: name(`time per check of the preview, p50 (${guide.check.count} checks)`), relay: ms(guide.check.p50), ...none, target: '< 250 ms (checked every 250 ms)', met: guide.check.p50 < 250 },
    { measure: name('time per check of the preview, p95'), relay: ms(guide.check.p95), ...none, target: '—', met: undefined },
  ];
}

/** Rows 9: the server's face pre-screen (PRESCREEN=on). */
async function prescreenRows(upstreamUrl: string): Promise<Row[]> {
  const cost = await measurePrescreen({ upstreamUrl, samples: SETTINGS.prescreenSamples, rounds: SETTINGS.prescreenRounds });
  const name = (what: string) => `9. Pre-screen: ${what}`;
  const count = (value: number) => String(value);
  const rows: Row[] = (['p50', 'p95'] as const).map((stat) =>
    compared(name(`time per check of a photo it passes, ${stat} (face-480p.jpg, ${SETTINGS.prescreenSamples} checks; baseline: PRESCREEN=off)`), cost.on[stat], cost.off[stat], ms));
  rows.push(
    compared(name(`fresh process: import its package and start the detector, median of ${SETTINGS.prescreenRounds} (baseline: empty process)`), cost.startMs + cost.emptyMs, cost.emptyMs, ms),
    { measure: name('its first picture after the start (face-480p.jpg)'), relay: ms(cost.firstScreenMs), baseline: '—', difference: '—', ratio: '—', target: '—', met: undefined },
    {
      measure: name(`paid calls over the fixture set (${cost.on.images} images: 4 that can pass, no face, partial, two faces, a tiny face; baseline: PRESCREEN=off)`),
      relay: count(cost.on.paid),
      baseline: count(cost.off.paid),
      difference: signed(cost.on.paid - cost.off.paid, count),
      ratio: ratio(cost.on.paid, cost.off.paid),
      target: `${cost.on.images - 4} avoided`,
      met: cost.on.avoided === cost.on.images - 4 && cost.off.avoided === 0,
    },
  );
  return rows;
}

/** Rows 10: the worst a decode of a check's pixels costs, within the limits, and the bomb they refuse. */
async function decodeRows(): Promise<Row[]> {
  progress(`10: decoding the largest images the limits accept, and a decompression bomb, ${SETTINGS.decodeRuns} fresh processes each`);
  const results = await measureDecode(SETTINGS.decodeRuns);
  const mib = (value: number) => `${(value / MiB).toFixed(1)} MiB`;
  const largest = (Object.keys(DECODE_CASES) as DecodeCase[]).filter((name) => !name.startsWith('bomb'));
  const worst = (pick: (name: DecodeCase) => number) => largest.reduce((a, b) => (pick(b) > pick(a) ? b : a));
  const none = { baseline: '—', difference: '—', ratio: '—' };
  const described = (name: DecodeCase) => {
    const { width, height, fileBytes } = results[name];
    return `${DECODE_CASES[name]}, ${width}×${height}, ${(fileBytes / 1000).toFixed(0)} kB`;
  };
  const slowest = worst((name) => results[name].ms);
  const heaviest = worst((name) => results[name].peakAboveIdle);
  const { bomb, 'bomb-unlimited': unlimited } = results;
  return [
    ...largest.map((name): Row => ({
      measure: `10. Pixel decode of the largest ${described(name)}: time, peak RSS above idle (estimated before decoding)`,
      relay: `${ms(results[name].ms)}, ${mib(results[name].peakAboveIdle)} (${mib(results[name].estimatedBytes)})`,
      ...none,
      target: `≤ ${mib(MAX_DECODE_BYTES)}`,
      met: results[name].peakAboveIdle <= MAX_DECODE_BYTES,
    })),
    { measure: `10. Pixel decode, worst case: time (${DECODE_CASES[slowest]})`, relay: ms(results[slowest].ms), ...none, target: '—', met: undefined },
    { measure: `10. Pixel decode, worst case: peak RSS above idle (${DECODE_CASES[heaviest]})`, relay: mib(results[heaviest].peakAboveIdle), ...none, target: `≤ ${mib(MAX_DECODE_BYTES)}`, met: results[heaviest].peakAboveIdle <= MAX_DECODE_BYTES },
    { ...compared(`10. Decompression bomb (${described('bomb')}): time (baseline: decoded without the limits)`, bomb.ms, unlimited.ms, ms), target: 'not decoded', met: !bomb.decoded },
    compared('10. Decompression bomb: peak RSS above idle (baseline: decoded without the limits)', bomb.peakAboveIdle, unlimited.peakAboveIdle, mib),
  ];
}

/** Rows 11: what signing a verdict adds to a check. */
async function signingRows(upstreamUrl: string): Promise<Row[]> {
  const cost = await measureSigning({ upstreamUrl, warmup: SETTINGS.warmup, samples: SETTINGS.samples });
  const name = (what: string) => `11. Signed verdicts: ${what}`;
  const photo = `${Math.round(cost.photoBytes / 1024)} KiB photo`;
  const added = cost.on.p50 - cost.off.p50;
  const none = { baseline: '—', difference: '—', ratio: '—', target: '—', met: undefined };
  return [
    { ...compared(name(`time per check, p50 (${photo}, ${cost.samples} checks; baseline: signing off)`), cost.on.p50, cost.off.p50, ms), target: '≤ 0.2 ms added', met: added <= 0.2 },
    compared(name('time per check, p99'), cost.on.p99, cost.off.p99, ms),
    { measure: name('the signature alone (claims, JSON, base64url, Ed25519), p50'), relay: ms(cost.signOnlyMs), ...none },
    { measure: name(`the image's SHA-256 (${photo}, done with the image on both sides), p50`), relay: ms(cost.imageHashMs), ...none },
  ];
}

function table(rows: Row[]): string {
  const lines = [
    '| Measure | Relay | Baseline | Difference | Ratio | Target | Met |',
    '| --- | ---: | ---: | ---: | ---: | --- | --- |',
    ...rows.map((row) => {
      const met = row.met === undefined ? '—' : row.met ? 'yes' : '**no**';
      return `| ${row.measure} | ${row.relay} | ${row.baseline} | ${row.difference} | ${row.ratio} | ${row.target} | ${met} |`;
    }),
  ];
  return lines.join('\n');
}

const started = performance.now();
const loadBefore = loadavg();
const rows = await measure();
const loadAfter = loadavg();
const elapsedSeconds = (performance.now() - started) / 1000;
const [cpu] = cpus();
const machine = [
  `CPU: ${cpu?.model.trim() ?? 'unknown'}, ${cpus().length} cores`,
  `RAM: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
  `Node ${process.version} (${process.platform} ${process.arch})`,
  `Date: ${new Date().toISOString()}`,
  `Duration: ${elapsedSeconds.toFixed(0)} s`,
  // The machine may be shared: its load says how far to trust the timings.
  `Load average (1, 5, 15 min) at the start: ${loadBefore.map((value) => value.toFixed(2)).join(', ')}; at the end: ${loadAfter.map((value) => value.toFixed(2)).join(', ')}`,
];
const markdown = table(rows);
console.log(markdown);
writeBenchResults(
  `# Benchmark results

Written by \`npm run bench\` (bench/run.ts); every row was measured in the same run as its baseline.

${machine.map((line) => `- ${line}`).join('\n')}

${markdown}

How each row is measured:

1. The \`livenessCheck\` handler invoked in process (API Gateway event built outside the timing)
   against the Deepvue emulator, which runs in its own process on 127.0.0.1, versus an undici
   POST of the same body to the same emulator; ${SETTINGS.warmup} warm-up checks each, then
   ${SETTINGS.samples} timed checks each, alternating. Credentials from the environment, token
   from the memory tier (what every warm check sees, with or without TOKEN_TABLE). On a shared
   2-core machine the p99 of both sides is mostly scheduling noise.
2. Each function of serverless.yml bundled with esbuild using the options serverless-esbuild
   derives from \`custom.esbuild\` (read through \`serverless print\`); the size of its code (the
   .mjs and its chunks, source maps not counted; in brackets what a cold start loads before the
   first event), and the median wall-clock time of ${SETTINGS.coldStartRounds} fresh \`node\` processes that import it
   and exit, with the function's environment (NODE_OPTIONS included), against an empty module.
   "The libraries alone" is bench/libraries-alone.ts bundled the same way: the clients livenessCheck
   builds at init (AWS SDK, undici, Powertools, file-type) without any code of ours, the floor of
   the functions' import while the design keeps those libraries.
   The Lambda-like cold start (bench/first-event.ts), ${SETTINGS.firstEventRounds} times each: a fresh \`node\` process
   with the function's environment reads its first event, imports the bundle and answers the
   event, against the same process with a handler that answers at once. What the event meets is
   what a deployed one meets: the secret in Secrets Manager, the Deepvue token already in the token
   table, the rate limiter's item beside it (plan \`enterprise\`, so that no round waits for the
   previous one), Deepvue (the emulator, its own process), and for an upload the object in S3, its
   claim and result in the results table and its completion event (dynalite and s3rver in a process
   of their own). livenessCheck answers a 100 KiB photo, s3Upload one new upload of it, livenessResult a
   stored result. Inside the process, the time to import and the time to the first answer are
   measured too.
3. \`measureTokenSharing\` (bench/token-sharing.ts): ${SETTINGS.checks} checks spread over
   ${SETTINGS.containers} containers built cold, sharing one dynalite token table, versus the same
   without the table.
4. A fresh process per run (median of ${SETTINGS.memoryRuns}): warm up, build the request (a real
   photo repeated to 4 MiB), collect garbage, read RSS, then the kernel's high-water mark (VmHWM,
   reset through /proc/self/clear_refs) across one check. Idle already holds the request body
   (5.6 MB of base64), as a Lambda handler receives it from the runtime.
5. Checks completed per second by one container (the same process as row 1) during
   ${SETTINGS.throughputMs / 1000} s, with 1 and 16 callers in flight, versus direct undici POSTs.
6. \`measurePaidCalls\` (bench/paid-calls.ts), time-scaled: Deepvue's Starter plan (1/s, 30/min,
   1,000/day) runs ${SETTINGS.paidCalls.timeScale}× faster, i.e. 1 call per ${1000 / SETTINGS.paidCalls.timeScale} ms, 30 per
   ${60 / SETTINGS.paidCalls.timeScale} s and 1,000 per ${(24 * 60) / SETTINGS.paidCalls.timeScale} min, enforced by the emulator (its own
   process) as sliding windows with Deepvue's documented 429; the upload queue's visibility timeout
   (180 s) is scaled alike. Not scaled: real-time delays (DEEPVUE_RATE_MARGIN_MS ${SETTINGS.paidCalls.marginMs} ms, the
   default; SQS delays in whole seconds; Lambda's 30 s). ${SETTINGS.paidCalls.uploads} distinct images are uploaded at once
   (s3rver and dynalite in a process of their own) and drained by ${SETTINGS.paidCalls.uploadContainers} simulated s3Upload
   containers (each a fresh import of the function: its own Deepvue pool, token cache, limiter and
   clients; batches of 10, partial failures, dead-letter queue after 5 receives) while
   ${SETTINGS.paidCalls.apiContainers} livenessCheck containers each send a check, wait ${SETTINGS.paidCalls.apiPauseMs / 1000} s, and repeat. The relay runs
   with DEEPVUE_RATE_LIMITS set to the scaled plan (the limiter in the token table), the baseline
   without it. "Paid" counts the checks Deepvue answered, per image. API check time is the
   handler's time, the limiter's wait included; at real scale its per-second waits are ${SETTINGS.paidCalls.timeScale}×
   longer.
7. Debian's Chromium (headless, a fake camera streaming a 852×480 fixture photo) at 360×740
   against \`npm start\` answering from the sandbox: per run a new session and page, the camera
   opened, then the time from clicking "Take photo" to the "All done" heading: capture and JPEG
   encoding, review ("Use this photo" clicked at once), the presigned POST's request, the upload to
   the local S3-compatible server, the upload path's check and the page's progress polling (every
   0.5 s at first). Baseline: the same photo posted once to \`POST /v1/liveness-check\` of the same server.
   ${SETTINGS.captureRuns} runs after one warm-up; nearest-rank percentiles. The size is the body
   of \`GET /capture\`, gzipped at level 9.
8. The capture page's face guide, the same Chromium and camera: the detector's four files as
   \`GET /capture/assets/...\` serves them, gzipped at level 9 (API Gateway compresses them for
   browsers); per page load (a new context: empty cache) the page's User Timing marks: navigation
   to the detector worker's "ready", and each check of the preview from drawing the frame to the
   decided state (the worker's detection included), until the photo is taken by itself.
   ${SETTINGS.guidanceRuns} page loads after one warm-up.
9. The pre-screen in process (\`functions/liveness-check.ts\` with PRESCREEN=on, from the sources,
   against the bench upstream), each side in a fresh process: ${SETTINGS.prescreenSamples} checks of
   face-480p.jpg (which passes, so Deepvue is called on both sides) after 20 warm-up checks, then
   each fixture image once, counting the answers the pre-screen gave (header
   \`x-liveness-provider: prescreen\`). Start: a fresh Node process importing the built package
   (.build/prescreen/screen.mjs, what a deployed container imports) and starting the detector,
   then screening one photo; against a process that imports nothing.
10. bench/decode.ts, each case in ${SETTINGS.decodeRuns} fresh processes (median time, highest peak): the
   decoders warmed on the fixture photographs, then the largest image of each kind that the decode
   limits (lib/check/pixels.ts: ${MAX_DECODE_PIXELS} pixels, ${MAX_DECODE_BYTES / MiB} MiB estimated) accept, its header proven,
   its pixels asked for once as a check asks (checkPixels with the pre-screen's decoder): the time
   to the pixels and the kernel's high-water mark (VmHWM, reset first) above the RSS before. The
   bomb goes through the same call, which refuses it from its header; its baseline hands it to the
   decoder directly, as the pre-screen did before the limits.
11. \`checkImage\` in a fresh process with one container's dependencies (credentials from the
   environment, the token from memory, the signing key read once from a loopback Secrets Manager,
   as deployed) against the bench upstream: ${SETTINGS.warmup} warm-up checks each way, then
   ${SETTINGS.samples} timed checks of face-480p.jpg each way, alternating, signing on versus a key
   source that signs nothing (off: what no deployment can run). Also timed alone: one signature,
   and the SHA-256 of the photo's bytes, which the image preparation computes on both sides.
12. bench/replay.ts: one process holds three containers of \`functions/liveness-check.ts\` (REPLAY_POLICY
   off, flag and refuse) against the emulator answering each check ${UPSTREAM_LATENCY_MS} ms after it arrived (its own
   process) and a replay table on dynalite (its own process: DynamoDB's work is not the relay's);
   10 warm-up rounds, then ${SETTINGS.replaySamples} rounds of face-480p.jpg sent to each in turn (the order turning
   every round), the table emptied before each check (untimed), so that every check is a first check
   and goes upstream. On this shared machine the dynalite process and the decoder's thread compete
   with the check for the same 2 cores, which DynamoDB and a Lambda's own cores do not. Then, in a
   fresh process, the decode (checkPixels, as a check asks) and the perceptual hash of a 100 KiB
   photo, of the largest JPEG the decode limits take (a noisy 2192×1648 photo of 3.7 MB, the
   slowest to decode per byte), and of a 12 MP photo of 4.2 MB (over the limits: exact digest only);
   medians of 9 after 2 warm-ups.
`,
);
progress('10: cost per 1,000 checks, path by path (bench/cost/cost.ts)');
writeSection(COST_SECTION, (await measureCost({ checks: COST_CHECKS, progress })).markdown);
progress(`done in ${((performance.now() - started) / 1000).toFixed(0)} s; wrote bench/results.md`);
