/**
 * The face pre-screen's cost and what it saves (PRESCREEN=on): the time it adds to a check that
 * passes it, the start of its package in a fresh process (a container's first check waits for
 * it), and the paid calls it avoids over the fixture photographs.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { proveHeader } from '../lib/check/header.ts';
import { lambdaContext, restEvent, type RestHandler } from '../test/support/lambda.ts';
import { decodeJpeg, encodeJpeg, placed } from '../test/support/pictures.ts';
import { fixtureImage, type FixtureImage } from '../test/support/relay.ts';
import { runInChild, sendResult } from './child.ts';
import { relayContender } from './contenders.ts';
import { median, percentile } from './stats.ts';

const FIXTURES: FixtureImage[] = ['face-480p.jpg', 'face.png', 'live-selfie-exif-rotated.jpg', 'spoof-printed-photo.jpg', 'two-faces.jpg', 'no-face-diagram.jpg', 'partial-face.jpg'];
/** The fixture set: the photographs, and the frontal face made small (8 % of a 1400-pixel square). */
const fixtureSet = (): Array<[string, Buffer]> => [
  ...FIXTURES.map((name): [string, Buffer] => [name, fixtureImage(name)]),
  ['face-480p.jpg in a 1400-pixel square', encodeJpeg(placed(decodeJpeg(fixtureImage('face-480p.jpg')), { width: 1400, height: 1400 }))],
];

export interface PrescreenSide {
  /** Checks of a photo that passes the pre-screen (so Deepvue is called either way), ms. */
  p50: number;
  p95: number;
  /** Of the fixture set: images sent to Deepvue, and images answered by the pre-screen. */
  paid: number;
  avoided: number;
  images: number;
}

export interface PrescreenCost {
  on: PrescreenSide;
  off: PrescreenSide;
  /** Fresh processes: importing the built package and starting the detector; then its first picture. */
  startMs: number;
  firstScreenMs: number;
  emptyMs: number;
}

/** One side, in a child of its own (a container imports the handler once, with its environment). */
function side(prescreen: 'on' | 'off', upstreamUrl: string, samples: number): Promise<PrescreenSide> {
  return runInChild(new URL(import.meta.url), { args: [upstreamUrl, String(samples)], env: { PRESCREEN: prescreen } });
}

async function measureSide(upstreamUrl: string, samples: number): Promise<PrescreenSide> {
  const relay = await relayContender(upstreamUrl);
  const body = JSON.stringify({ image: fixtureImage('face-480p.jpg').toString('base64') });
  for (let run = 0; run < 20; run += 1) await relay.prepare(body)();
  const times: number[] = [];
  for (let run = 0; run < samples; run += 1) {
    const call = relay.prepare(body);
    const started = performance.now();
    await call();
    times.push(performance.now() - started);
  }
  const { handler } = (await import('../functions/liveness-check.ts')) as { handler: RestHandler };
  let paid = 0;
  let avoided = 0;
  const images = fixtureSet();
  for (const [, photo] of images) {
    const answer = (await handler(restEvent('POST', '/v1/liveness-check', { body: JSON.stringify({ image: photo.toString('base64') }) }), lambdaContext(29_000))) as { headers?: Record<string, string> };
    if (answer.headers?.['x-liveness-provider'] === 'prescreen') avoided += 1;
    else paid += 1;
  }
  const sorted = times.toSorted((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), paid, avoided, images: images.length };
}

const MODULE = fileURLToPath(new URL('../.build/prescreen/screen.mjs', import.meta.url));
const PHOTO = fileURLToPath(new URL('../test/fixtures/images/face-480p.jpg', import.meta.url));
const START_SCRIPT = `
const { readFileSync } = await import('node:fs');
const started = performance.now();
const { createFaceScreen, decodePixels } = await import(process.argv[1]);
const faces = await createFaceScreen();
const ready = performance.now();
faces.screen(await decodePixels(readFileSync(process.argv[2]), 'jpg', JSON.parse(process.argv[3])));
console.log(JSON.stringify({ startMs: ready - started, firstScreenMs: performance.now() - ready }));
`;

export async function measurePrescreen(options: { upstreamUrl: string; samples: number; rounds: number }): Promise<PrescreenCost> {
  const off = await side('off', options.upstreamUrl, options.samples);
  const on = await side('on', options.upstreamUrl, options.samples);
  const starts: number[] = [];
  const firsts: number[] = [];
  const empties: number[] = [];
  const photo = readFileSync(PHOTO);
  const proof = proveHeader(photo, photo.length, 'jpg');
  if (proof.kind !== 'proven') throw new Error(`${PHOTO}: its header is not proven`);
  for (let round = 0; round < options.rounds; round += 1) {
    let started = performance.now();
    spawnSync(process.execPath, ['--input-type=module', '-e', ''], { stdio: 'ignore' });
    empties.push(performance.now() - started);
    started = performance.now();
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', START_SCRIPT, MODULE, PHOTO, JSON.stringify(proof.header)], { encoding: 'utf8', cwd: '/' });
    if (run.status !== 0) throw new Error(`the pre-screen package did not start: ${run.stderr}`);
    const timing = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { startMs: number; firstScreenMs: number };
    starts.push(timing.startMs);
    firsts.push(timing.firstScreenMs);
  }
  return { on, off, startMs: median(starts), firstScreenMs: median(firsts), emptyMs: median(empties) };
}

if (import.meta.main) {
  const [upstreamUrl = '', samples = '100'] = process.argv.slice(2);
  sendResult(await measureSide(upstreamUrl, Number(samples)));
}
