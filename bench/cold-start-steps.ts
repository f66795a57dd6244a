/**
 * `node bench/cold-start-steps.ts [rounds]`: the cold-start work change by change. Every step is
 * a commit of this repository; each is checked out into a temporary folder (its sources, its
 * serverless.yml, this checkout's node_modules), its functions bundled as `serverless package`
 * bundles them, and all steps are measured in one run, rounds alternating, with bench/cold-start.ts
 * (import time) and bench/first-event.ts (the Lambda-like cold start). Writes its section of
 * bench/results.md.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { bundleFunctions, measureImports, type BundledFunction } from './cold-start.ts';
import { measureFirstEvents } from './first-event.ts';
import { writeSection } from './results-file.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Each change tried, in order, by the commit that made it; what it did is in the table. */
const STEPS: { commit: string; change: string }[] = [
  { commit: 'c21b067', change: 'before: one bundle per function, undici from its package root' },
  { commit: 'eda8769', change: 'Node built-ins imported by ES modules loaded with `require` (no ES facade of node:http, whose getters load Node’s own undici)' },
  { commit: 'fb2b76d', change: 'undici’s Pool and `request` from their own modules; the authorize form written by hand (no FormData)' },
  { commit: '5b6ab37', change: 'undici’s `esbuildDetection` switch: its experimental milo parser left out' },
  { commit: '1accd00', change: 'livenessCheck: Powertools Idempotency loaded by the first request with an Idempotency-Key (one bundle: its code still parsed)' },
  { commit: '1f202f8', change: 'ES module chunks (splitting): code loaded at first use is not parsed at start' },
  { commit: '216394f', change: 'no NODE_OPTIONS=--enable-source-maps' },
  { commit: '8959515', change: 's3Upload: the upload path (S3, Idempotency, Batch, EventBridge, SQS) loaded at first use; the sandbox only in local runs' },
  { commit: '3238426', change: 'licence comments in .LEGAL.txt files: every module’s source ASCII' },
  { commit: '5d29078', change: 'left out: bowser, undici’s llhttp without SIMD, undici’s FormData body code' },
  { commit: 'f039aa6', change: 'tried: HTTP/1.1 only, undici’s HTTP/2 client and node:http2 left out (reverted next)' },
  { commit: 'f489657', change: 'the HTTP/2 experiment reverted' },
  { commit: '804386f', change: 'main merged: livenessSessions and capturePage arrive' },
  { commit: '8920e96', change: 'our modules loaded at start, only third-party code at first use (Idempotency, S3, Batch, EventBridge, SQS)' },
  { commit: '47adcea', change: 'livenessSessions: S3 and the presigned-post signer at first use; capturePage without an S3 client' },
  { commit: '305a093', change: 'livenessCheck: one DynamoDB client for the token table and the Idempotency-Key records' },
  { commit: '43642f3', change: 'tried: undici and the Secrets Manager client at first use, i.e. in the first request (reverted next)' },
  { commit: '203f0be', change: 'that experiment reverted' },
  { commit: '59219d7', change: 'HTTP/1.1 only to Deepvue: undici’s HTTP/2 client and node:http2 left out' },
  { commit: '1036802', change: 'built-ins reach ES modules through ES-module stand-ins: no copy of every property per importing module' },
  { commit: 'c28a3f2', change: '`debug` in file-type’s ZIP reader replaced by a silent stand-in: no tty, no supports-color' },
  { commit: '968b0d8', change: 'Powertools on one release: one copy of its commons (every step here is bundled with this checkout’s node_modules, so every row has it)' },
  { commit: 'd13fdd5', change: 'AWS credentials from the environment only, as Lambda provides them: the SDK’s other credential sources and the code they shared with the start leave the bundles' },
];

const rounds = Number(process.argv[2] ?? 11);
const progress = (text: string) => process.stderr.write(`cold-start steps: ${text}\n`);

/** The commit's sources, with this checkout's node_modules and, where it has one, its capture page built. */
function checkout(commit: string, into: string): void {
  mkdirSync(into, { recursive: true });
  const archive = execFileSync('git', ['archive', commit], { cwd: ROOT, maxBuffer: 256 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', into], { input: archive });
  symlinkSync(join(ROOT, 'node_modules'), join(into, 'node_modules'), 'dir');
  const page = join(into, 'scripts', 'build-capture-page.ts');
  if (existsSync(page)) execFileSync(process.execPath, [page], { cwd: into, stdio: 'ignore' });
}

const started = performance.now();
const loadBefore = loadavg();
const work = mkdtempSync(join(tmpdir(), 'relay-cold-start-steps-'));
try {
  const bundles: { step: number; bundle: BundledFunction }[] = [];
  for (const [step, { commit }] of STEPS.entries()) {
    progress(`bundling ${commit}`);
    const root = join(work, `source-${step}`);
    checkout(commit, root);
    for (const bundle of await bundleFunctions(join(work, `bundles-${step}`), root)) bundles.push({ step, bundle });
  }
  const all = bundles.map(({ bundle }) => bundle);
  progress(`${rounds} fresh imports of ${all.length} bundles`);
  const imports = measureImports(all, rounds);
  progress(`${rounds} Lambda-like cold starts of ${all.length} bundles`);
  const firstEvents = await measureFirstEvents(all, rounds);
  const loadAfter = loadavg();

  const ms = (value: number) => `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(0)} ms`;
  const spread = (runs: number[], base: number) => `${ms(Math.min(...runs) - base)} … ${ms(Math.max(...runs) - base)}`;
  const names = [...new Set(all.map((bundle) => bundle.name))];
  const tables = names.map((name) => {
    const lines = [
      `### ${name}`,
      '',
      '| step | change | code, all (at start) | import, added: median (min … max) | Lambda-like cold start, added: median (min … max) | of which import + first answer |',
      '| ---: | --- | ---: | ---: | ---: | ---: |',
    ];
    bundles.forEach(({ step, bundle }, index) => {
      if (bundle.name !== name) return;
      const emptyMs = imports.emptyMs[index] ?? Number.NaN;
      const first = firstEvents[index];
      const imported = `${ms((imports.startMs[index] ?? Number.NaN) - emptyMs)} (${spread(imports.runs[index] ?? [], emptyMs)})`;
      const cold = first === undefined ? '—' : `${ms(first.totalMs - first.emptyMs)} (${spread(first.runs, first.emptyMs)})`;
      const parts = first === undefined ? '—' : `${first.importMs.toFixed(0)} + ${first.answerMs.toFixed(0)} ms`;
      const mb = (bytes: number) => `${(bytes / 1_000_000).toFixed(2)} MB`;
      lines.push(`| ${step} | ${STEPS[step]?.change ?? ''} (\`${STEPS[step]?.commit ?? ''}\`) | ${mb(bundle.bytes)} (${mb(bundle.startBytes)}) | ${imported} | ${cold} | ${parts} |`);
    });
    return lines.join('\n');
  });
  const [cpu] = cpus();
  writeSection('cold-start steps', `## Cold starts, change by change

Written by \`node bench/cold-start-steps.ts ${rounds}\`: every step is a commit, checked out, bundled as \`serverless package\`
bundles it and measured in this one run, ${rounds} rounds alternating between all bundles and their baselines (an
empty module; for the Lambda-like cold start, an empty handler), as row 2 of the table above measures them.
"Added" is the difference of medians to the baseline; the spread is each run's difference to the baseline's median.

- CPU: ${cpu?.model.trim() ?? 'unknown'}, ${cpus().length} cores; Node ${process.version}; date ${new Date().toISOString()}; duration ${((performance.now() - started) / 1000).toFixed(0)} s
- Load average (1, 5, 15 min) at the start: ${loadBefore.map((value) => value.toFixed(2)).join(', ')}; at the end: ${loadAfter.map((value) => value.toFixed(2)).join(', ')}

${tables.join('\n\n')}
`);
  progress(`done; wrote its section of bench/results.md`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
