/**
 * How far apart perceptual hashes are for copies of a photograph and for different photographs:
 * the measurements the replay check's distance is chosen from (lib/replay/bands.ts,
 * REPLAY_DISTANCE). Every photograph of test/fixtures/images is copied as a replayer would copy a
 * stolen selfie (resized 0.25×–2×, re-compressed at JPEG quality 50–95, cropped by up to 5 % a
 * side, made 10 % brighter or darker, converted between PNG, JPEG and WebP), each copy encoded,
 * decoded again and hashed as the relay hashes an image; and every photograph is compared with
 * every other (the same person in other photographs among them). blockhash, the perceptual hash
 * npm offers on decoded pixels, is measured beside it on the same pictures.
 *
 * `node bench/replay-threshold.ts` writes its section of bench/results.md; `npm run bench` runs it too.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import exifr from 'exifr';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { hammingDistance, perceptualHash, type OrientedPixels } from '../lib/replay/perceptual.ts';
import { writeSection } from './results-file.ts';

const require = createRequire(import.meta.url);
const webp = require('@cwasm/webp') as { decode(bytes: Uint8Array): { width: number; height: number; data: Uint8ClampedArray } };
const blockhash = require('blockhash-core') as { bmvbhash(image: { width: number; height: number; data: Uint8Array }, bits: number): string };

const FIXTURES = new URL('../test/fixtures/images/', import.meta.url);

type Picture = { width: number; height: number; data: Uint8Array };

export interface Copy {
  of: string;
  how: string;
  distance: number;
  blockhash: number;
}

export interface Pair {
  a: string;
  b: string;
  distance: number;
  blockhash: number;
}

export interface ThresholdStudy {
  photographs: string[];
  copies: Copy[];
  pairs: Pair[];
  /** Pairs of photographs of the same person (by SOURCES.md), a subset of `pairs`. */
  samePerson: Pair[];
}

/** The photographs of one person among the fixtures (test/fixtures/images/SOURCES.md). */
const SAME_PERSON: string[][] = [
  ['face-480p.jpg', 'partial-face.jpg', 'two-faces.jpg'],
  ['live-selfie-exif-rotated.jpg', 'spoof-printed-photo.jpg'],
];

async function decode(bytes: Buffer): Promise<OrientedPixels> {
  let picture: Picture;
  if (bytes[0] === 0xff) {
    picture = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
  } else if (bytes[0] === 0x89) {
    const png = PNG.sync.read(bytes);
    picture = { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
  } else {
    const decoded = webp.decode(bytes);
    picture = { width: decoded.width, height: decoded.height, data: new Uint8Array(decoded.data.buffer) };
  }
  const orientation = bytes[0] === 0xff ? await exifr.orientation(bytes).catch(() => undefined) : undefined;
  return { ...picture, orientation: typeof orientation === 'number' ? orientation : 1 };
}

/** The picture as shown: what a replayer who re-encodes it gets (orientation 1). */
function shown(picture: OrientedPixels): Picture {
  const { width, height, data, orientation } = picture;
  if (orientation === 1) return picture;
  const swapped = orientation >= 5;
  const outWidth = swapped ? height : width;
  const outHeight = swapped ? width : height;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const [sx, sy] = ({
        2: [width - 1 - x, y],
        3: [width - 1 - x, height - 1 - y],
        4: [x, height - 1 - y],
        5: [y, x],
        6: [height - 1 - y, x],
        7: [height - 1 - y, width - 1 - x],
        8: [y, width - 1 - x],
      } as Record<number, [number, number]>)[orientation] ?? [x, y];
      out.set(data.subarray((y * width + x) * 4, (y * width + x) * 4 + 4), (sy * outWidth + sx) * 4);
    }
  }
  return { width: outWidth, height: outHeight, data: out };
}

/** One axis of a resize: each output sample's source samples and weights (area average down, linear up). */
function weights(from: number, to: number): Array<Array<[number, number]>> {
  const scale = from / to;
  return Array.from({ length: to }, (_, at) => {
    if (scale >= 1) {
      const start = at * scale;
      const end = start + scale;
      const taps: Array<[number, number]> = [];
      for (let source = Math.floor(start); source < Math.min(from, Math.ceil(end)); source += 1) {
        taps.push([source, (Math.min(end, source + 1) - Math.max(start, source)) / scale]);
      }
      return taps;
    }
    const centre = Math.max(0, (at + 0.5) * scale - 0.5);
    const left = Math.min(from - 1, Math.floor(centre));
    const right = Math.min(from - 1, left + 1);
    const share = centre - left;
    return [[left, 1 - share], [right, share]];
  });
}

function resized(picture: Picture, width: number, height: number): Picture {
  const across = weights(picture.width, width);
  const down = weights(picture.height, height);
  const rows = new Float64Array(width * picture.height * 4);
  for (let y = 0; y < picture.height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      for (const [source, weight] of across[x] as Array<[number, number]>) {
        for (let channel = 0; channel < 4; channel += 1) rows[(y * width + x) * 4 + channel] = (rows[(y * width + x) * 4 + channel] as number) + (picture.data[(y * picture.width + source) * 4 + channel] as number) * weight;
      }
    }
  }
  const out = new Float64Array(width * height * 4);
  for (let y = 0; y < height; y += 1) {
    for (const [source, weight] of down[y] as Array<[number, number]>) {
      for (let at = 0; at < width * 4; at += 1) out[y * width * 4 + at] = (out[y * width * 4 + at] as number) + (rows[source * width * 4 + at] as number) * weight;
    }
  }
  return { width, height, data: Uint8Array.from(out, (value) => Math.round(value)) };
}

const scaled = (picture: Picture, factor: number): Picture =>
  resized(picture, Math.max(1, Math.round(picture.width * factor)), Math.max(1, Math.round(picture.height * factor)));

/** `picture` without the given shares of its width and height on each side. */
function cropped(picture: Picture, left: number, top: number, right: number, bottom: number): Picture {
  const x0 = Math.round(picture.width * left);
  const y0 = Math.round(picture.height * top);
  const width = picture.width - x0 - Math.round(picture.width * right);
  const height = picture.height - y0 - Math.round(picture.height * bottom);
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y += 1) {
    const from = ((y + y0) * picture.width + x0) * 4;
    data.set(picture.data.subarray(from, from + width * 4), y * width * 4);
  }
  return { width, height, data };
}

const brightened = (picture: Picture, factor: number): Picture => ({
  ...picture,
  data: picture.data.map((value, at) => (at % 4 === 3 ? value : Math.min(255, Math.round(value * factor)))),
});

const asJpeg = (picture: Picture, quality = 90): Buffer => jpeg.encode(picture, quality).data;

function asPng(picture: Picture): Buffer {
  const png = new PNG({ width: picture.width, height: picture.height });
  png.data = Buffer.from(picture.data);
  return PNG.sync.write(png);
}

/** jSquash's libwebp encoder (Squoosh's build), its WebAssembly read from the package: the bench only encodes. */
const webpEncoder = (async () => {
  const { default: encode, init } = await import('@jsquash/webp/encode.js');
  const wasm = readFileSync(require.resolve('@jsquash/webp/codec/enc/webp_enc.wasm'));
  // The lib settings declare WebAssembly's types only; Node has the value.
  const { Module } = (globalThis as unknown as { WebAssembly: { Module: new (bytes: Uint8Array) => never } }).WebAssembly;
  await init(new Module(wasm));
  return encode;
})();

async function asWebp(picture: Picture, quality = 75): Promise<Buffer> {
  const encode = await webpEncoder;
  const data = new Uint8ClampedArray(picture.data.buffer, picture.data.byteOffset, picture.data.byteLength);
  return Buffer.from(await encode({ width: picture.width, height: picture.height, data, colorSpace: 'srgb' }, { quality }));
}

/** How each copy is made from the picture as shown, and encoded. */
const COPIES: Array<[string, (picture: Picture, format: string) => Buffer | Promise<Buffer>]> = [
  ['scale 0.25×', (p) => asJpeg(scaled(p, 0.25))],
  ['scale 0.5×', (p) => asJpeg(scaled(p, 0.5))],
  ['scale 0.75×', (p) => asJpeg(scaled(p, 0.75))],
  ['scale 1.5×', (p) => asJpeg(scaled(p, 1.5))],
  ['scale 2×', (p) => asJpeg(scaled(p, 2))],
  ['JPEG quality 50', (p) => asJpeg(p, 50)],
  ['JPEG quality 75', (p) => asJpeg(p, 75)],
  ['JPEG quality 95', (p) => asJpeg(p, 95)],
  ['crop 2.5 % every side', (p) => asJpeg(cropped(p, 0.025, 0.025, 0.025, 0.025))],
  ['crop 5 % every side', (p) => asJpeg(cropped(p, 0.05, 0.05, 0.05, 0.05))],
  ['crop 5 % left', (p) => asJpeg(cropped(p, 0.05, 0, 0, 0))],
  ['crop 5 % top', (p) => asJpeg(cropped(p, 0, 0.05, 0, 0))],
  ['crop 5 % right and bottom', (p) => asJpeg(cropped(p, 0, 0, 0.05, 0.05))],
  ['brightness +10 %', (p) => asJpeg(brightened(p, 1.1))],
  ['brightness −10 %', (p) => asJpeg(brightened(p, 0.9))],
  ['to PNG (JPEG originals) / to JPEG (PNG originals)', (p, format) => (format === 'png' ? asJpeg(p) : asPng(p))],
  ['to WebP, quality 75', (p) => asWebp(p)],
  ['to WebP, then to JPEG', async (p) => asJpeg(await decode(await asWebp(p)))],
  ['scale 0.25×, JPEG quality 50', (p) => asJpeg(scaled(p, 0.25), 50)],
  ['crop 5 % every side, scale 0.5×, WebP quality 60', (p) => asWebp(scaled(cropped(p, 0.05, 0.05, 0.05, 0.05), 0.5), 60)],
];

/** blockhash-core's 64-bit hash (8 × 8 blocks) of the picture as shown. */
function blockhash64(picture: OrientedPixels): string {
  return blockhash.bmvbhash(shown(picture), 8);
}

export async function measureThresholdStudy(): Promise<ThresholdStudy> {
  const photographs = readdirSync(FIXTURES).filter((name) => /\.(jpg|png)$/.test(name)).sort();
  const originals = new Map<string, { pixels: OrientedPixels; hash: string; blockhash: string }>();
  for (const name of photographs) {
    const pixels = await decode(readFileSync(new URL(name, FIXTURES)));
    originals.set(name, { pixels, hash: perceptualHash(pixels), blockhash: blockhash64(pixels) });
  }
  const copies: Copy[] = [];
  for (const [name, original] of originals) {
    const picture = shown(original.pixels);
    for (const [how, make] of COPIES) {
      const copy = await decode(await make(picture, name.endsWith('.png') ? 'png' : 'jpg'));
      copies.push({ of: name, how, distance: hammingDistance(perceptualHash(copy), original.hash), blockhash: hammingDistance(blockhash64(copy), original.blockhash) });
    }
  }
  const pairs: Pair[] = [];
  for (const [index, a] of photographs.entries()) {
    for (const b of photographs.slice(index + 1)) {
      const [first, second] = [originals.get(a), originals.get(b)] as [{ hash: string; blockhash: string }, { hash: string; blockhash: string }];
      pairs.push({ a, b, distance: hammingDistance(first.hash, second.hash), blockhash: hammingDistance(first.blockhash, second.blockhash) });
    }
  }
  const samePerson = pairs.filter(({ a, b }) => SAME_PERSON.some((group) => group.includes(a) && group.includes(b)));
  return { photographs, copies, pairs, samePerson };
}

/** The smallest distance that flags every copy, and whether it flags no different photograph. */
export function chosenDistance(study: ThresholdStudy, of: 'distance' | 'blockhash' = 'distance'): { distance: number; separates: boolean; closestDifferent: number } {
  const distance = Math.max(...study.copies.map((copy) => copy[of]));
  const closestDifferent = Math.min(...study.pairs.map((pair) => pair[of]));
  return { distance, separates: distance < closestDifferent, closestDifferent };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};

/** The section of bench/results.md. */
export function thresholdMarkdown(study: ThresholdStudy, replayDistance: number): string {
  const chosen = chosenDistance(study);
  const block = chosenDistance(study, 'blockhash');
  const lines = [
    '## Replayed images: the distance between copies and between different photographs',
    '',
    `Written by \`node bench/replay-threshold.ts\` (also run by \`npm run bench\`). ${study.photographs.length} photographs (test/fixtures/images,`,
    'see SOURCES.md there), each copied as below from the picture as shown (EXIF orientation applied, so a copy of',
    'a photograph stored sideways is hashed against the sideways original), encoded, decoded and hashed as the relay does;',
    'distances are in bits of 64 (the relay\'s DCT hash, lib/replay/perceptual.ts), blockhash-core\'s 64-bit hash beside it.',
    '',
    '| Copy | Max distance | Median | blockhash max |',
    '| --- | ---: | ---: | ---: |',
  ];
  const hows = [...new Set(study.copies.map((copy) => copy.how))];
  for (const how of hows) {
    const of = study.copies.filter((copy) => copy.how === how);
    lines.push(`| ${how} | ${Math.max(...of.map((copy) => copy.distance))} | ${median(of.map((copy) => copy.distance))} | ${Math.max(...of.map((copy) => copy.blockhash))} |`);
  }
  const all = study.copies.map((copy) => copy.distance);
  lines.push(`| **every copy** (${study.copies.length}) | **${Math.max(...all)}** | ${median(all)} | ${Math.max(...study.copies.map((copy) => copy.blockhash))} |`);
  const sorted = [...study.pairs].sort((a, b) => a.distance - b.distance);
  lines.push(
    '',
    '| Different photographs | Min distance | Median | blockhash min |',
    '| --- | ---: | ---: | ---: |',
    `| every pair (${study.pairs.length}) | ${sorted[0]?.distance} (${sorted[0]?.a} ~ ${sorted[0]?.b}) | ${median(study.pairs.map((pair) => pair.distance))} | ${Math.min(...study.pairs.map((pair) => pair.blockhash))} |`,
    ...study.samePerson.map((pair) => `| the same person: ${pair.a} ~ ${pair.b} | ${pair.distance} | — | ${pair.blockhash} |`),
    '',
    `The closest pairs: ${sorted.slice(0, 5).map((pair) => `${pair.distance} (${pair.a} ~ ${pair.b})`).join(', ')}.`,
    '',
    `Every copy is within ${chosen.distance} bits of its photograph and no two different photographs are closer than ${chosen.closestDifferent}:`,
    `${chosen.separates ? `a distance of ${chosen.distance} separates them` : 'no distance separates them'}. The relay flags a hash within ` +
      `**${replayDistance} bits** (REPLAY_DISTANCE) as a similar image${replayDistance >= chosen.distance && replayDistance < chosen.closestDifferent ? ', which flags every copy here and no different photograph' : ' — which this set no longer supports: choose again'}.`,
    `blockhash (the hash npm offers on decoded pixels): copies up to ${block.distance}, different photographs from ${block.closestDifferent}; ${block.separates ? 'it separates them too' : 'no distance separates them'}.`,
  );
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { REPLAY_DISTANCE } = await import('../lib/replay/bands.ts');
  const study = await measureThresholdStudy();
  const markdown = thresholdMarkdown(study, REPLAY_DISTANCE);
  writeSection('replay threshold', markdown);
  process.stdout.write(`${markdown}\n`);
}
