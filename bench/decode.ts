/**
 * Row 10: what decoding a check's pixels costs at worst. For each kind of image the decode limits
 * (lib/check/pixels.ts) make largest, the largest one they accept, and the 200 KB decompression
 * bomb they refuse: its decode time and the peak RSS above idle, each in a fresh process.
 */
import { MAX_DECODE_BYTES, MAX_DECODE_PIXELS, checkPixels, decodeBytes } from '../lib/check/pixels.ts';
import { prepareImageBytes } from '../lib/check/image.ts';
import { decodePixels } from '../lib/prescreen/decode.ts';
import { blackPng } from '../test/support/images.ts';
import { decodeJpeg, encodeJpeg, placed } from '../test/support/pictures.ts';
import { fixtureImage } from '../test/support/relay.ts';
import { runInChild, sendResult } from './child.ts';
import { peakTracker } from './memory.ts';
import { median } from './stats.ts';

export type DecodeCase = 'jpeg-rgb' | 'png-rgba16' | 'png-rgba8' | 'png-grey1' | 'bomb' | 'bomb-unlimited';

export const DECODE_CASES: Record<DecodeCase, string> = {
  'jpeg-rgb': 'a JPEG, 3 components at full resolution (4:4:4), of a noisy photo',
  'png-rgba16': 'a 16-bit RGBA PNG, every row Paeth-filtered',
  'png-rgba8': 'an 8-bit RGBA PNG, every row Paeth-filtered',
  'png-grey1': 'a 1-bit grey PNG, every row Paeth-filtered',
  bomb: 'the 200 KB 5000×5000 16-bit RGBA PNG, through the limits',
  'bomb-unlimited': 'the same bomb decoded without the limits, as before them',
};

export interface DecodeResult {
  width: number;
  height: number;
  fileBytes: number;
  /** What decodeBytes estimated before decoding. */
  estimatedBytes: number;
  decoded: boolean;
  ms: number;
  peakAboveIdle: number;
}

/** The largest 4:3 picture of `perPixel` bytes a pixel that the limits accept. */
function largest(perPixel: number): { width: number; height: number } {
  const pixels = Math.min(MAX_DECODE_PIXELS, Math.floor(MAX_DECODE_BYTES / perPixel));
  // 2048 × 2048 is the pixel limit itself: square where the pixels bind, 4:3 where the bytes do.
  if (pixels === MAX_DECODE_PIXELS) return { width: 2048, height: 2048 };
  const width = Math.floor(Math.sqrt((pixels * 4) / 3) / 8) * 8;
  return { width, height: Math.floor(pixels / width / 8) * 8 };
}

/** The photograph scaled to fill `width` × `height`, with noise in every pixel so that its entropy-coded data is dense. */
function noisyPhoto(width: number, height: number): Buffer {
  const photo = decodeJpeg(fixtureImage('face-480p.jpg'));
  const picture = placed(photo, { width, height, scale: Math.max(width / photo.width, height / photo.height) });
  let seed = 42;
  for (let at = 0; at < picture.data.length; at += 1) {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    if (at % 4 !== 3) picture.data[at] = Math.max(0, Math.min(255, (picture.data[at] as number) + (seed % 41) - 20));
  }
  return encodeJpeg(picture, 85);
}

async function image(name: DecodeCase): Promise<Buffer> {
  const header = (channels: number, bitsPerSample: number, format: 'jpg' | 'png') => decodeBytes(format, { width: 1, height: 1, channels, bitsPerSample });
  switch (name) {
    case 'jpeg-rgb': {
      const { width, height } = largest(header(3, 8, 'jpg'));
      return noisyPhoto(width, height);
    }
    case 'png-rgba16': {
      const { width, height } = largest(header(4, 16, 'png'));
      return blackPng(width, height, 16, 6);
    }
    case 'png-rgba8':
      return blackPng(2048, 2048, 8, 6);
    case 'png-grey1':
      return blackPng(2048, 2048, 1, 0);
    case 'bomb':
    case 'bomb-unlimited':
      return blackPng(5000, 5000, 16, 6);
  }
}

async function run(name: DecodeCase): Promise<DecodeResult> {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  // Warm the decoders' code on the small photographs, as a container's earlier checks would have.
  for (const photo of [fixtureImage('face.png'), fixtureImage('face-480p.jpg')]) {
    const warm = await prepareImageBytes(photo, 4 * 1024 * 1024);
    if (warm.ok) await checkPixels(warm.image, decodePixels)();
  }
  const bytes = await image(name);
  const prepared = await prepareImageBytes(bytes, 4 * 1024 * 1024);
  if (!prepared.ok || prepared.image.kind !== 'base64' || prepared.image.format === 'webp') throw new Error(`${name}: not accepted`);
  const { header, format, value } = prepared.image;
  const tracker = peakTracker();
  gc();
  const idle = process.memoryUsage.rss();
  tracker.reset();
  const started = performance.now();
  const decoded = name === 'bomb-unlimited'
    ? await decodePixels(Buffer.from(value, 'base64'), format, header).then(() => true)
    : (await checkPixels(prepared.image, decodePixels)()).ok;
  const ms = performance.now() - started;
  return { ...header, fileBytes: bytes.length, estimatedBytes: decodeBytes(format, header), decoded, ms, peakAboveIdle: tracker.peak() - idle };
}

/** Each case `runs` times, each in a fresh process: the median time and the highest peak. */
export async function measureDecode(runs: number): Promise<Record<DecodeCase, DecodeResult>> {
  const results: Partial<Record<DecodeCase, DecodeResult>> = {};
  for (const name of Object.keys(DECODE_CASES) as DecodeCase[]) {
    const samples: DecodeResult[] = [];
    for (let index = 0; index < runs; index += 1) {
      samples.push(await runInChild<DecodeResult>(new URL(import.meta.url), {
        args: [name],
        execArgv: ['--expose-gc'],
        // As in row 4: large buffers come from mmap, so that RSS shows them while they live.
        env: { MALLOC_MMAP_THRESHOLD_: String(128 * 1024) },
      }));
    }
    const [first] = samples;
    if (first === undefined) throw new Error('no runs');
    results[name] = { ...first, ms: median(samples.map((sample) => sample.ms)), peakAboveIdle: Math.max(...samples.map((sample) => sample.peakAboveIdle)) };
  }
  return results as Record<DecodeCase, DecodeResult>;
}

if (import.meta.main) {
  const [name] = process.argv.slice(2);
  if (name === undefined || !(name in DECODE_CASES)) {
    // Alone (`node bench/decode.ts`): every case, three runs each, as JSON.
    sendResult(await measureDecode(3));
  } else {
    sendResult(await run(name as DecodeCase));
  }
}
