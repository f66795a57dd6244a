import { FREQUENCIES, WINDOW_HEX, WINDOWS } from './perceptual.ts';

/**
 * Two pictures are the same picture (a copy) when the whole frame of one is at most this many bits
 * (of 255) from the whole frame or one of the inner windows of the other. Chosen from measurements
 * (bench/replay-threshold.ts, bench/results.md): every copy of the study's photographs (resized,
 * re-compressed, cropped up to 5 % a side, brightened, converted) lies within it, and different
 * photographs lie far beyond it, far enough that the chance of one within it is negligible at
 * 10 million stored digests.
 */
export const REPLAY_DISTANCE = 64;

/**
 * Bits of a window's coarse code: the signs of its lowest frequencies, the ones a copy keeps. An
 * index key is one window's code; more bits spread stored digests over more keys (fewer
 * candidates a lookup) and miss more crops (measured in bench/results.md).
 */
export const CODE_BITS = 24;

/** The frequencies of coarse codes, lowest first: (v, u) ordered by v + u, then by the larger of the two; a code of n bits takes the first n. */
const CODE_FREQUENCIES: Array<[number, number]> = (() => {
  const all: Array<[number, number]> = [];
  for (let v = 0; v < FREQUENCIES; v += 1) for (let u = 0; u < FREQUENCIES; u += 1) if (v + u > 0) all.push([v, u]);
  return all.sort((a, b) => a[0] + a[1] - (b[0] + b[1]) || Math.max(...a) - Math.max(...b) || a[0] - b[0]).slice(0, 30);
})();

const WORDS = WINDOW_HEX / 8;

/**
 * The hash as 32-bit words, window after window; undefined when it is not a hash of this layout
 * (e.g. one stored by an earlier version) or is a featureless picture's: a flat frame (a covered
 * lens, a blank image) has no frequency above zero, and any two such frames would match each other
 * and crowd one key.
 */
function words(hash: string): Uint32Array | undefined {
  if (hash.length !== WINDOWS * WINDOW_HEX || !/^[0-9a-f]+$/.test(hash) || /^0+$/.test(hash.slice(0, WINDOW_HEX))) return undefined;
  const out = new Uint32Array(WINDOWS * WORDS);
  for (let word = 0; word < out.length; word += 1) out[word] = Number.parseInt(hash.slice(word * 8, word * 8 + 8), 16);
  return out;
}

function popcount(value: number): number {
  let x = value - ((value >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function windowDistance(a: Uint32Array, windowA: number, b: Uint32Array, windowB: number): number {
  let distance = 0;
  for (let word = 0; word < WORDS; word += 1) distance += popcount(((a[windowA * WORDS + word] as number) ^ (b[windowB * WORDS + word] as number)) >>> 0);
  return distance;
}

/**
 * How far apart two pictures are: the fewest bits in which the whole frame of one differs from the
 * whole frame or an inner window of the other; Infinity when either is not a hash of this layout
 * or is a featureless picture's.
 */
export function perceptualDistance(a: string, b: string): number {
  const first = words(a);
  const second = words(b);
  if (first === undefined || second === undefined) return Number.POSITIVE_INFINITY;
  let distance = windowDistance(first, 0, second, 0);
  for (let window = 1; window < WINDOWS; window += 1) {
    distance = Math.min(distance, windowDistance(first, 0, second, window), windowDistance(second, 0, first, window));
  }
  return distance;
}

/** Whether two perceptual hashes are of the same picture: one a copy of the other. */
export function isSimilar(a: string, b: string): boolean {
  return perceptualDistance(a, b) <= REPLAY_DISTANCE;
}

/** Each window's coarse code, as a number of `bits` bits (at most 30). */
function codes(hash: string, bits: number): number[] {
  const all = words(hash);
  if (all === undefined) return [];
  return Array.from({ length: WINDOWS }, (_, window) =>
    CODE_FREQUENCIES.slice(0, bits).reduce((code, [v, u]) => {
      const bit = v * FREQUENCIES + u;
      const word = all[window * WORDS + Math.floor(bit / 32)] as number;
      return code * 2 + ((word >>> (31 - (bit % 32))) & 1);
    }, 0),
  );
}

/** A code as a key; the prefix names the layout, so that digests hashed another way never share a key with these. */
const key = (code: number, bits: number): string => `w${WINDOWS}c${bits}.${code.toString(16).padStart(Math.ceil(bits / 4), '0')}`;

/**
 * The keys a stored digest is written under: the coarse code of each of its windows (the same code
 * often serves several windows, so usually a handful of keys). `bits` other than CODE_BITS is for
 * measuring (bench/replay-threshold.ts).
 *
 * @example
 * indexKeys(hash); // e.g. ['w17c24.3fa01b', 'w17c24.3fa03b']
 */
export function indexKeys(hash: string, bits: number = CODE_BITS): string[] {
  return [...new Set(codes(hash, bits))].map((code) => key(code, bits));
}

/**
 * The keys a lookup queries: the coarse code of each window and every code one bit away from it.
 * A copy's windows and its original's share a code but for the odd coarse frequency near zero,
 * which one side sees positive and the other not: one flipped bit covers it. Every stored digest
 * whose hash isSimilar is then among the candidates unless a window pair differs in two code bits
 * (bench/results.md measures how often).
 */
export function probeKeys(hash: string, bits: number = CODE_BITS): string[] {
  const probes = new Set<number>();
  for (const code of codes(hash, bits)) {
    probes.add(code);
    for (let bit = 0; bit < bits; bit += 1) probes.add(code ^ (2 ** bit));
  }
  return [...probes].map((code) => key(code, bits));
}
