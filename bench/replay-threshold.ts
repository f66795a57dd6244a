/**
 * How far apart perceptual hashes are for copies of a photograph and for different photographs,
 * and what the index costs: the measurements the replay check's distance and keys are chosen from
 * (lib/replay/bands.ts). Every photograph of test/fixtures/images is copied as a replayer would
 * copy a stolen selfie (resized 0.25×–2×, re-compressed at JPEG quality 50–95, cropped by up to 5 %
 * a side, made 10 % brighter or darker, converted between PNG, JPEG and WebP), each copy encoded,
 * decoded again and hashed as the relay hashes an image; every photograph is compared with every
 * other (the same person in other photographs among them); the distances of different photographs
 * give the chance of a false match among 10 million stored digests; and the index keys of every
 * copy are looked up among its original's, as the store does. blockhash, the perceptual hash npm
 * offers on decoded pixels, is measured beside it on the same pictures.
 *
 * `node bench/replay-threshold.ts` writes its section of bench/results.md.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import exifr from 'exifr';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { CODE_BITS, indexEntries, indexKeys, isSimilar, perceptualDistance, PROBE_KEYS, probeKeys, REPLAY_DISTANCE } from '../lib/replay/bands.ts';
import { perceptualHash, WINDOW_HEX, type OrientedPixels } from '../lib/replay/perceptual.ts';
import { cropped } from '../test/support/pictures.ts';
import { writeSection } from './results-file.ts';

const require = createRequire(import.meta.url);
const webp = require('@cwasm/webp') as { decode(bytes: Uint8Array): { width: number; height: number; data: Uint8ClampedArray } };
const blockhash = require('blockhash-core') as { bmvbhash(image: { width: number; height: number; data: Uint8Array }, bits: number): string };

const FIXTURES = new URL('../test/fixtures/images/', import.meta.url);

type Picture = { width: number; height: number; data: Uint8Array };
type Decoded = Picture & { orientation: number };

export interface Copy {
  of: string;
  how: string;
  /** The relay's distance (bits of 255): the whole frame of one against the whole frame or an inner window of the other. */
  distance: number;
  /** The whole frames alone, as a whole-frame hash compares them. */
  whole: number;
  blockhash: number;
  hash: string;
}

export interface Pair {
  a: string;
  b: string;
  distance: number;
  whole: number;
  blockhash: number;
  samePerson: boolean;
  /** Both photographs of people: the selfie-like pairs. */
  people: boolean;
}

export interface ThresholdStudy {
  photographs: string[];
  /** Photographs cut down to at most this many pixels on their long side before they are copied. */
  longSide: number;
  copies: Copy[];
  /** Pairs of different photographs (not `crops`). */
  pairs: Pair[];
  /** Pairs where one photograph is a large crop of the other: neither a copy the study asks for nor a different photograph. */
  crops: Pair[];
  hashes: Map<string, string>;
  /** Milliseconds to hash a photograph's decoded pixels, median of 20: a 100 KiB JPEG's (face-480p.jpg) and 4 MiB of pixels. */
  hashMs: { small: number; large: number };
}

/** The photographs of one person among the fixtures (test/fixtures/images/SOURCES.md). */
const SAME_PERSON: string[][] = [
  ['face-480p.jpg', 'partial-face.jpg', 'two-faces.jpg', 'obama.jpg', 'obama-2.jpg', 'obama-3.jpg', 'obama-4.jpg', 'obama-small.jpg', 'obama-and-biden.jpg'],
  ['two-faces.jpg', 'biden.jpg', 'biden-2.jpg', 'obama-and-biden.jpg'],
  ['live-selfie-exif-rotated.jpg', 'spoof-printed-photo.jpg'],
  ['face.png', 'alex-lacamoire.jpg'],
  ['kit-harington.jpg', 'kit-harington-2.jpg', 'kit-harington-3.jpg', 'kit-harington-and-rose-leslie.jpg'],
  ['rose-leslie.jpg', 'rose-leslie-2.jpg', 'kit-harington-and-rose-leslie.jpg'],
];

/** partial-face.jpg is obama.jpg without its left 46 %: the same photograph, cropped far beyond 5 %. */
const LARGE_CROPS: Array<[string, string]> = [['obama.jpg', 'partial-face.jpg']];

/** Photographs that are not of people. */
const NOT_PEOPLE = new Set(['chelsea.png', 'china.jpg', 'clock.png', 'coffee.png', 'coins.png', 'flower.jpg', 'no-face-diagram.jpg', 'rocket.jpg']);

/** Large photographs are first cut down to this long side (area average): a selfie's size, and it keeps the study to minutes. */
const LONG_SIDE = 800;

async function decode(bytes: Buffer): Promise<Decoded> {
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
function shown(picture: Decoded): Picture {
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
  ['crop 5 % bottom', (p) => asJpeg(cropped(p, 0, 0, 0, 0.05))],
  ['crop 5 % left and top', (p) => asJpeg(cropped(p, 0.05, 0.05, 0, 0))],
  ['crop 5 % right and bottom', (p) => asJpeg(cropped(p, 0, 0, 0.05, 0.05))],
  ['crop 5 % left and right', (p) => asJpeg(cropped(p, 0.05, 0, 0.05, 0))],
  ['brightness +10 %', (p) => asJpeg(brightened(p, 1.1))],
  ['brightness −10 %', (p) => asJpeg(brightened(p, 0.9))],
  ['to PNG (JPEG originals) / to JPEG (PNG originals)', (p, format) => (format === 'png' ? asJpeg(p) : asPng(p))],
  ['to WebP, quality 75', (p) => asWebp(p)],
  ['to WebP, then to JPEG', async (p) => asJpeg(shown(await decode(await asWebp(p))))],
  ['scale 0.25×, JPEG quality 50', (p) => asJpeg(scaled(p, 0.25), 50)],
  ['crop 5 % every side, scale 0.5×, WebP quality 60', (p) => asWebp(scaled(cropped(p, 0.05, 0.05, 0.05, 0.05), 0.5), 60)],
  ['crop 5 % left, brightness −10 %, JPEG quality 60', (p) => asJpeg(brightened(cropped(p, 0.05, 0, 0, 0), 0.9), 60)],
];

/** blockhash-core's 64-bit hash (8 × 8 blocks) of the picture as shown. */
function blockhash64(picture: Picture): string {
  return blockhash.bmvbhash(picture, 8);
}

function bitDistance(a: string, b: string): number {
  let x = BigInt(`0x${a}`) ^ BigInt(`0x${b}`);
  let distance = 0;
  for (; x > 0n; x &= x - 1n) distance += 1;
  return distance;
}

/** Distances between two hashes: the relay's, and their whole frames alone. */
const distances = (a: string, b: string) => ({ distance: perceptualDistance(a, b), whole: bitDistance(a.slice(0, WINDOW_HEX), b.slice(0, WINDOW_HEX)) });

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function hashMilliseconds(picture: OrientedPixels): number {
  const runs = Array.from({ length: 20 }, () => {
    const started = performance.now();
    perceptualHash(picture);
    return performance.now() - started;
  });
  return medianOf(runs);
}

export async function measureThresholdStudy(): Promise<ThresholdStudy> {
  const photographs = readdirSync(FIXTURES).filter((name) => /\.(jpe?g|png)$/.test(name)).sort();
  const originals = new Map<string, { picture: Picture; hash: string; blockhash: string }>();
  for (const name of photographs) {
    const decoded = await decode(readFileSync(new URL(name, FIXTURES)));
    // Hashed as the relay hashes it (stored pixels and their orientation); copied from the picture as shown, at most LONG_SIDE.
    const hash = perceptualHash(decoded);
    const upright = shown(decoded);
    const long = Math.max(upright.width, upright.height);
    const picture = long > LONG_SIDE ? scaled(upright, LONG_SIDE / long) : upright;
    originals.set(name, { picture, hash: long > LONG_SIDE ? perceptualHash(picture) : hash, blockhash: blockhash64(picture) });
  }
  const copies: Copy[] = [];
  for (const [name, original] of originals) {
    for (const [how, make] of COPIES) {
      const copy = shown(await decode(await make(original.picture, name.endsWith('.png') ? 'png' : 'jpg')));
      const hash = perceptualHash(copy);
      copies.push({ of: name, how, ...distances(hash, original.hash), blockhash: bitDistance(blockhash64(copy), original.blockhash), hash });
    }
  }
  const pairs: Pair[] = [];
  const crops: Pair[] = [];
  for (const [index, a] of photographs.entries()) {
    for (const b of photographs.slice(index + 1)) {
      const [first, second] = [originals.get(a), originals.get(b)] as [{ hash: string; blockhash: string }, { hash: string; blockhash: string }];
      const pair: Pair = {
        a,
        b,
        ...distances(first.hash, second.hash),
        blockhash: bitDistance(first.blockhash, second.blockhash),
        samePerson: SAME_PERSON.some((group) => group.includes(a) && group.includes(b)),
        people: !NOT_PEOPLE.has(a) && !NOT_PEOPLE.has(b),
      };
      (LARGE_CROPS.some((crop) => crop.includes(a) && crop.includes(b)) ? crops : pairs).push(pair);
    }
  }
  const face = await decode(readFileSync(new URL('face-480p.jpg', FIXTURES)));
  const large = scaled(face, 1024 / face.width);
  return {
    photographs,
    longSide: LONG_SIDE,
    copies,
    pairs,
    crops,
    hashes: new Map([...originals].map(([name, { hash }]) => [name, hash])),
    hashMs: { small: hashMilliseconds(face), large: hashMilliseconds({ width: 1024, height: 1024, data: resized(large, 1024, 1024).data }) },
  };
}

/** The chance that a standard normal variable is at most `z` (Numerical Recipes' erfc, relative error under 1.2e-7). */
function normalBelow(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const erfc =
    t *
    Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return z < 0 ? erfc / 2 : 1 - erfc / 2;
}

interface FalseMatch {
  label: string;
  count: number;
  min: number;
  mean: number;
  sd: number;
  /** The chance that a different photograph is within REPLAY_DISTANCE, from a normal fitted to the distances. */
  perPair: number;
}

function falseMatch(label: string, values: number[]): FalseMatch {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const sd = Math.sqrt(values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (values.length - 1));
  return { label, count: values.length, min: Math.min(...values), mean, sd, perPair: normalBelow((REPLAY_DISTANCE + 0.5 - mean) / sd) };
}

/** The keys a lookup queries, for a code of `bits` bits. */
type Probing = (hash: string, bits: number) => string[];

/** The lookup as first written: each window's code and every code one bit from it, ~174 keys. */
const oneBitAway: Probing = (hash, bits) => {
  const keys = indexKeys(hash, bits);
  const prefix = keys[0]?.slice(0, keys[0].indexOf('.') + 1) ?? '';
  const codes = keys.map((key) => Number.parseInt(key.slice(prefix.length), 16));
  const probes = new Set(codes.flatMap((code) => [code, ...Array.from({ length: bits }, (_, bit) => (code ^ 2 ** bit) >>> 0)]));
  return [...probes].map((code) => `${prefix}${code.toString(16).padStart(Math.ceil(bits / 4), '0')}`);
};

/** The relay's lookup, with `count` keys. */
const steadiestFirst = (count: number): Probing => (hash, bits) => probeKeys(hash, bits, count);

interface IndexRow {
  bits: number;
  /** Copies whose probe keys meet their original's index keys (the original stored first). */
  foundLater: number;
  /** Copies found in both directions: also the original looked up among the copy's keys (the copy stored first). */
  found: number;
  missed: Copy[];
  /** Pairs of different photographs where one's lookup meets a key of the other's: candidates compared, never flagged. */
  othersMet: number;
  writes: number;
  probes: number;
  /** The chance that two photographs of people share a code, from how often each code bit is set among them (bits taken as independent). */
  collision: number;
}

function indexRow(study: ThresholdStudy, bits: number, probing: Probing = steadiestFirst(PROBE_KEYS)): IndexRow {
  const probed = new Map<string, Set<string>>();
  const probesOf = (hash: string) => probed.get(hash) ?? probed.set(hash, new Set(probing(hash, bits))).get(hash) as Set<string>;
  // As the store finds a copy: under a key both meet at, a candidate similar to the lookup's hash.
  const meets = (query: string, stored: string) => indexEntries(stored, bits).some(({ key, candidate }) => probesOf(query).has(key) && isSimilar(candidate, query));
  const laterFound = study.copies.filter((copy) => meets(copy.hash, study.hashes.get(copy.of) as string));
  const missed = study.copies.filter((copy) => !(laterFound.includes(copy) && meets(study.hashes.get(copy.of) as string, copy.hash)));
  const keyMet = (query: string, stored: string) => indexKeys(stored, bits).some((key) => probesOf(query).has(key));
  const othersMet = study.pairs.filter(({ a, b }) => {
    const [first, second] = [study.hashes.get(a) as string, study.hashes.get(b) as string];
    return keyMet(first, second) || keyMet(second, first);
  }).length;
  const hashes = [...study.hashes.values()];
  return {
    bits,
    foundLater: laterFound.length,
    found: study.copies.length - missed.length,
    missed,
    othersMet,
    writes: hashes.reduce((sum, hash) => sum + indexKeys(hash, bits).length, 0) / hashes.length,
    probes: hashes.reduce((sum, hash) => sum + probesOf(hash).size, 0) / hashes.length,
    collision: codeBalance(study, bits, study.photographs.filter((name) => !NOT_PEOPLE.has(name))).collision,
  };
}

/**
 * How balanced the code bits are over photographs' whole frames: the share of ones per bit, lowest
 * and highest; the entropy they allow at most; and the chance two of them share a code.
 */
function codeBalance(study: ThresholdStudy, bits: number, names: string[]): { low: number; high: number; entropy: number; collision: number } {
  const codes = names.map((name) => indexKeys(study.hashes.get(name) as string, bits)[0] as string).map((key) => Number.parseInt(key.split('.')[1] as string, 16));
  const shares = Array.from({ length: bits }, (_, bit) => codes.filter((code) => (code >> bit) & 1).length / codes.length);
  const entropy = shares.reduce((sum, p) => sum + (p === 0 || p === 1 ? 0 : -(p * Math.log2(p) + (1 - p) * Math.log2(1 - p))), 0);
  const collision = shares.reduce((product, p) => product * (p * p + (1 - p) * (1 - p)), 1);
  return { low: Math.min(...shares), high: Math.max(...shares), entropy, collision };
}

const STORED = 10_000_000;
/** Bytes of a key's item (lib/replay/store.ts) but its key and candidate: attribute names, the identity's hash, times, the SHA-256. */
const NEAR_ITEM_FIXED = 'pk'.length + 'near#'.length + 'sk'.length + 32 + 'seen_at'.length + 24 + 'expires_at'.length + 6 + 'sha256'.length + 64 + 'windows'.length;

/** The mean and largest size of a key's item, over the study's photographs, as DynamoDB counts it. */
function nearItemBytes(study: ThresholdStudy, bits: number): { mean: number; max: number } {
  const sizes = [...study.hashes.values()].flatMap((hash) => indexEntries(hash, bits).map(({ key, candidate }) => NEAR_ITEM_FIXED + key.length + candidate.length));
  return { mean: sizes.reduce((sum, size) => sum + size, 0) / sizes.length, max: Math.max(...sizes) };
}

function costAt10M(study: ThresholdStudy, row: IndexRow) {
  // Digests under a key the check queries: each stored digest has `writes` codes, each matching a given code with the chance two photographs of people share one.
  const perKey = STORED * row.writes * row.collision;
  const candidates = row.probes * perKey;
  const item = nearItemBytes(study, row.bits);
  // The probe keys read eventually consistently: half a read unit per 4 KB, at least half a unit each; the exact key consistently, one unit.
  const rru = row.probes * Math.max(0.5, Math.ceil((perKey * item.mean) / 4096) * 0.5) + 1;
  // Every item is under 1 KB, one write unit: the key items, the exact item, and the answer's update of it.
  const wru = row.writes + 2;
  return { perKey, candidates, rru, wru, readBytes: candidates * item.mean };
}

const round = (value: number, digits = 1) => Number(value.toFixed(digits));

/** The section of bench/results.md. */
export function thresholdMarkdown(study: ThresholdStudy): string {
  const maxCopy = Math.max(...study.copies.map((copy) => copy.distance));
  const minPair = Math.min(...study.pairs.map((pair) => pair.distance));
  const lines = [
    '## Replayed images: the distance between copies and between different photographs, and the index',
    '',
    `Written by \`node bench/replay-threshold.ts\`. ${study.photographs.length} photographs (test/fixtures/images, see SOURCES.md there), each`,
    `cut down to at most ${study.longSide} px on its long side, copied as below from the picture as shown (EXIF orientation applied),`,
    'encoded, decoded and hashed as the relay does (lib/replay/perceptual.ts). Distances are in bits of 255: the relay\'s',
    '(the whole frame of one picture against the whole frame or one of the 16 inner windows of the other, the fewest), the',
    'whole frames alone (what a whole-frame DCT hash sees), and blockhash-core\'s 64-bit hash (of 64) beside them.',
    '',
    '| Copy | Max distance | Median | Whole frames, max | blockhash max (of 64) |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  const hows = [...new Set(study.copies.map((copy) => copy.how))];
  for (const how of hows) {
    const of = study.copies.filter((copy) => copy.how === how);
    lines.push(`| ${how} | ${Math.max(...of.map((copy) => copy.distance))} | ${medianOf(of.map((copy) => copy.distance))} | ${Math.max(...of.map((copy) => copy.whole))} | ${Math.max(...of.map((copy) => copy.blockhash))} |`);
  }
  const worst = study.copies.reduce((a, b) => (b.distance > a.distance ? b : a));
  lines.push(
    `| **every copy** (${study.copies.length}) | **${maxCopy}** (${worst.of}, ${worst.how}) | ${medianOf(study.copies.map((copy) => copy.distance))} | ${Math.max(...study.copies.map((copy) => copy.whole))} | ${Math.max(...study.copies.map((copy) => copy.blockhash))} |`,
  );
  const sorted = [...study.pairs].sort((a, b) => a.distance - b.distance);
  const people = study.pairs.filter((pair) => pair.people);
  const same = study.pairs.filter((pair) => pair.samePerson).sort((a, b) => a.distance - b.distance);
  const row = (label: string, of: Pair[]) => `| ${label} (${of.length}) | ${Math.min(...of.map((pair) => pair.distance))} | ${medianOf(of.map((pair) => pair.distance))} | ${Math.min(...of.map((pair) => pair.whole))} | ${Math.min(...of.map((pair) => pair.blockhash))} |`;
  lines.push(
    '',
    '| Different photographs | Min distance | Median | Whole frames, min | blockhash min (of 64) |',
    '| --- | ---: | ---: | ---: | ---: |',
    row('every pair', study.pairs),
    row('both of people', people),
    row('the same person', same),
    ...study.crops.map((pair) => `| not counted: ${pair.b} is ${pair.a} cropped by 46 % | ${pair.distance} | — | ${pair.whole} | ${pair.blockhash} |`),
    '',
    `The closest different photographs: ${sorted.slice(0, 5).map((pair) => `${pair.distance} (${pair.a} ~ ${pair.b})`).join(', ')}; of the same person: ${same.slice(0, 3).map((pair) => `${pair.distance} (${pair.a} ~ ${pair.b})`).join(', ')}.`,
    '',
    `Every copy is within ${maxCopy} bits of its photograph and no two different photographs are closer than ${minPair}. The relay flags a`,
    `picture within **${REPLAY_DISTANCE} bits** (REPLAY_DISTANCE) as a copy${REPLAY_DISTANCE >= maxCopy && REPLAY_DISTANCE < minPair ? `: every copy here is flagged (${REPLAY_DISTANCE - maxCopy} bits to spare) and no different photograph (${minPair - REPLAY_DISTANCE} bits to spare)` : ' — which this set no longer supports: choose again'}.`,
  );
  const fits = [falseMatch('every pair', study.pairs.map((pair) => pair.distance)), falseMatch('both of people', people.map((pair) => pair.distance))];
  lines.push(
    '',
    `**False matches at ${STORED.toLocaleString('en')} stored digests.** A check is compared with the stored digests its keys find, at most all of them; the`,
    'chance that one of them is a different photograph within the distance is estimated from a normal distribution fitted to',
    'the distances of different photographs (each already the fewest of the 33 window comparisons):',
    '',
    '| Pairs | Count | Min | Mean | SD | z of the distance | Chance a pair is within it | Expected false matches a check | The same with an SD 1.5 × as wide |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...fits.map((fit) => {
      const wider = normalBelow((REPLAY_DISTANCE + 0.5 - fit.mean) / (1.5 * fit.sd));
      return `| ${fit.label} | ${fit.count} | ${fit.min} | ${round(fit.mean)} | ${round(fit.sd, 2)} | ${round((REPLAY_DISTANCE + 0.5 - fit.mean) / fit.sd, 2)} | ${fit.perPair.toExponential(1)} | ${(fit.perPair * STORED).toExponential(1)} | ${(wider * STORED).toExponential(1)} |`;
    }),
    '',
    'The fit is the estimate\'s weak point: a few hundred pairs show its middle, not its tail (the last column shows how much',
    'a heavier tail would change it), and photographs of the same person in the same place a moment apart (a retake) are',
    'closer than any pair here; see docs/design.md.',
  );
  const rows = [16, 20, 22, CODE_BITS].map((bits) => indexRow(study, bits));
  const items = nearItemBytes(study, CODE_BITS);
  lines.push(
    '',
    `**The index.** A digest is written under the coarse code of each of its 17 windows (the signs of its ${CODE_BITS} lowest frequencies,`,
    `the distinct ones); a lookup queries its own codes, then the codes a copy most likely has, ${PROBE_KEYS} keys in all (PROBE_KEYS; below). "Found" counts copies found as the store`,
    'finds them, under a key both share with a candidate within the distance: a copy looked up among its original\'s keys (the',
    'original stored first), and in both directions (also the original among the copy\'s).',
    `The cost at ${STORED.toLocaleString('en')} digests takes codes as crowded as among the photographs of people here (each code bit set as`,
    `often as among them). A key's item holds a candidate (the whole frame's 32 bytes and those of the windows of its code), not the`,
    `whole hash: ${Math.round(items.mean)} bytes on average, ${items.max} at most, one write unit each. RRU: the probe keys read eventually consistently,`,
    'the exact key consistently; WRU with the answer\'s update.',
    '',
    '| Code bits | Copies found | Both directions | Keys written a digest | Keys queried a check | Digests a key at 10 M | Candidates a check | Bytes read a check | RRU a check | WRU a check |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((row) => {
      const cost = costAt10M(study, row);
      return `| ${row.bits}${row.bits === CODE_BITS ? ' (CODE_BITS)' : ''} | ${row.foundLater} of ${study.copies.length} | ${row.found} | ${round(row.writes)} | ${round(row.probes)} | ${round(cost.perKey)} | ${Math.round(cost.candidates)} | ${round(cost.readBytes / 1e6, 1)} MB | ${Math.round(cost.rru)} | ${Math.round(cost.wru)} |`;
    }),
  );
  const chosen = rows.at(-1) as IndexRow;
  const before = indexRow(study, CODE_BITS, oneBitAway);
  const counts = [...new Set([32, 48, PROBE_KEYS, 64, 96])].sort((a, b) => a - b);
  const budgets = counts.map((count) => ({ count, row: count === PROBE_KEYS ? chosen : indexRow(study, CODE_BITS, steadiestFirst(count)) }));
  const crops = study.copies.filter((copy) => copy.how.startsWith('crop')).length;
  const probingRow = (label: string, row: IndexRow) => {
    const cost = costAt10M(study, row);
    const cropsFound = crops - row.missed.filter((copy) => copy.how.startsWith('crop')).length;
    return `| ${label} | ${round(row.probes)} | ${row.foundLater} | ${row.found} | ${cropsFound} of ${crops} | ${row.othersMet} of ${study.pairs.length} | ${Math.round(cost.candidates)} | ${Math.round(cost.rru)} |`;
  };
  const newlyFound = before.missed.filter((copy) => !chosen.missed.includes(copy));
  const newlyMissed = chosen.missed.filter((copy) => !before.missed.includes(copy));
  const named = (copies: Copy[]) => (copies.length === 0 ? 'none' : copies.map((copy) => `${copy.of} (${copy.how})`).join('; '));
  lines.push(
    '',
    `**The lookup's keys**, at ${CODE_BITS} bits. Each key a lookup queries is a Query, half a read unit at least, and the check's biggest`,
    'line on AWS; more keys find more crops. As first written, a lookup queried every code one bit from its windows\' codes. It now',
    'queries its windows\' codes, then flips the signs the hash marks least steady (small against how far they move when the',
    'window\'s edges move: lib/replay/perceptual.ts), up to three of a window\'s eight least steady at once, taking the codes in',
    'the order of their flipped signs\' summed steadiness over all windows, until it has its count. "Different photographs met":',
    'pairs of different photographs where a lookup of one reads a key of the other (candidates compared, never flagged).',
    '',
    '| Lookup | Keys queried a check | Copies found | Both directions | Crops found | Different photographs met | Candidates a check at 10 M | RRU a check at 10 M |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    probingRow('every code one bit from a window\'s (as first written)', before),
    ...budgets.map(({ count, row }) => probingRow(`steadiest first, ${count} keys${count === PROBE_KEYS ? ' (PROBE_KEYS)' : ''}`, row)),
    '',
    `With ${PROBE_KEYS} keys the lookup finds ${newlyFound.length} copies the first one missed (${named(newlyFound)}) and misses ${newlyMissed.length} it found (${named(newlyMissed)}).`,
  );
  const balance = codeBalance(study, CODE_BITS, study.photographs);
  const peopleBalance = codeBalance(study, CODE_BITS, study.photographs.filter((name) => !NOT_PEOPLE.has(name)));
  lines.push(
    '',
    `Missed at ${CODE_BITS} bits (in either direction): ${chosen.missed.length === 0 ? 'none' : chosen.missed.map((copy) => `${copy.of} (${copy.how})`).join('; ')}.`,
    `Skew of the ${CODE_BITS} code bits over the photographs' whole frames: each bit is set in ${round(balance.low, 2)}–${round(balance.high, 2)} of them`,
    `(${round(peopleBalance.low, 2)}–${round(peopleBalance.high, 2)} of the photographs of people), so a code carries at most ${round(balance.entropy)} bits of entropy (${round(peopleBalance.entropy)} for people)`,
    `where an even spread has ${CODE_BITS}; two photographs of people share a code with a chance of ${peopleBalance.collision.toExponential(1)}, ${round(peopleBalance.collision * 2 ** CODE_BITS)} times an even spread's.`,
    '',
    `Hash time (median of 20, this machine): ${round(study.hashMs.small, 2)} ms for face-480p.jpg's pixels (853 × 480, a 100 KiB JPEG), ${round(study.hashMs.large, 2)} ms for 4 MiB of pixels (1024 × 1024 RGBA).`,
  );
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const study = await measureThresholdStudy();
  const markdown = thresholdMarkdown(study);
  writeSection('replay threshold', markdown);
  process.stdout.write(`${markdown}\n`);
}
