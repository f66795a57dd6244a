import { COARSE_FREQUENCIES, FREQUENCIES, HASH_HEX, SIGNS_HEX, STEADY_LEVEL, WINDOW_HEX, WINDOWS } from './perceptual.ts';

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

/**
 * Keys a lookup queries: its windows' codes, then the codes a copy most likely has, the least
 * steady signs of a window's code flipped (probeKeys). Each is a Query; more find more crops
 * (measured in bench/results.md).
 */
export const PROBE_KEYS = 56;
/** Of each window's code, the least steady bits a probe flips, and how many of them at most at once. */
const FLIPPABLE_BITS = 8;
const FLIPPED_AT_ONCE = 3;

const WORDS = WINDOW_HEX / 8;
/** Bytes of one window in a candidate: its 256 bits. */
const WINDOW_BYTES = WINDOW_HEX / 2;

/**
 * Windows as 32-bit words, window after window, the whole frame first: those of a hash (all 17), or
 * of a candidate (the whole frame and some inner windows, see indexEntries).
 */
type Windows = Uint32Array;

/**
 * The hash's windows (its signs); undefined when it is not a hash of this layout or is a
 * featureless picture's: a flat frame (a covered lens, a blank image) has no frequency above zero,
 * and any two such frames would match each other and crowd one key.
 */
function hashWindows(hash: string): Windows | undefined {
  if (hash.length !== HASH_HEX || !/^[0-9a-f]+$/.test(hash) || /^0+$/.test(hash.slice(0, WINDOW_HEX))) return undefined;
  const out = new Uint32Array(WINDOWS * WORDS);
  for (let word = 0; word < out.length; word += 1) out[word] = Number.parseInt(hash.slice(word * 8, word * 8 + 8), 16);
  return out;
}

/** A candidate's windows; undefined when it is not one of this layout, or a featureless picture's. */
function candidateWindows(candidate: Uint8Array): Windows | undefined {
  const count = candidate.length / WINDOW_BYTES;
  if (!Number.isInteger(count) || count < 1 || count > WINDOWS) return undefined;
  const view = new DataView(candidate.buffer, candidate.byteOffset, candidate.byteLength);
  const out = new Uint32Array(count * WORDS);
  for (let word = 0; word < out.length; word += 1) out[word] = view.getUint32(word * 4);
  return out.subarray(0, WORDS).some((word) => word !== 0) ? out : undefined;
}

const windowsOf = (value: string | Uint8Array): Windows | undefined => (typeof value === 'string' ? hashWindows(value) : candidateWindows(value));

function popcount(value: number): number {
  let x = value - ((value >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function windowDistance(a: Windows, windowA: number, b: Windows, windowB: number): number {
  let distance = 0;
  for (let word = 0; word < WORDS; word += 1) distance += popcount(((a[windowA * WORDS + word] as number) ^ (b[windowB * WORDS + word] as number)) >>> 0);
  return distance;
}

/**
 * How far apart two pictures are: the fewest bits in which the whole frame of one differs from the
 * whole frame or an inner window of the other. Each side is a hash (hex) or a candidate (what a
 * key's item holds: the whole frame and that key's inner windows), compared over the windows it
 * has; Infinity when either is not of this layout or is a featureless picture's.
 */
export function perceptualDistance(a: string | Uint8Array, b: string | Uint8Array): number {
  const first = windowsOf(a);
  const second = windowsOf(b);
  if (first === undefined || second === undefined) return Number.POSITIVE_INFINITY;
  let distance = windowDistance(first, 0, second, 0);
  for (let window = 1; window < second.length / WORDS; window += 1) distance = Math.min(distance, windowDistance(first, 0, second, window));
  for (let window = 1; window < first.length / WORDS; window += 1) distance = Math.min(distance, windowDistance(second, 0, first, window));
  return distance;
}

/** Whether two pictures (hashes, or a candidate and a hash) are the same picture: one a copy of the other. */
export function isSimilar(a: string | Uint8Array, b: string | Uint8Array): boolean {
  return perceptualDistance(a, b) <= REPLAY_DISTANCE;
}

/** Each window's coarse code, as a number of `bits` bits (at most 30): the signs of its coarsest frequencies, the first the highest bit. */
function codes(all: Windows, bits: number): number[] {
  return Array.from({ length: WINDOWS }, (_, window) =>
    COARSE_FREQUENCIES.slice(0, bits).reduce((code, [v, u]) => {
      const bit = v * FREQUENCIES + u;
      const word = all[window * WORDS + Math.floor(bit / 32)] as number;
      return code * 2 + ((word >>> (31 - (bit % 32))) & 1);
    }, 0),
  );
}

/** A code as a key; the prefix names the layout, so that digests hashed another way never share a key with these. */
const key = (code: number, bits: number): string => `w${WINDOWS}c${bits}.${code.toString(16).padStart(Math.ceil(bits / 4), '0')}`;

/** A key a stored digest is written under, and what its item holds for a lookup to compare: a candidate. */
export interface IndexEntry {
  key: string;
  /**
   * The whole frame's window and the inner windows whose code is the key's, 32 bytes each: what
   * comparing this digest with a lookup that meets it under this key needs. The lookup's whole
   * frame meets an inner window of this code (this digest the original, the lookup a crop of it),
   * or a window of the lookup meets this digest's whole frame (this digest the crop).
   */
  candidate: Uint8Array;
}

/**
 * The keys a stored digest is written under: the coarse code of each of its windows (the same code
 * often serves several windows, so usually a handful of keys), each with its candidate. `bits`
 * other than CODE_BITS is for measuring (bench/replay-threshold.ts).
 *
 * @example
 * indexEntries(hash); // e.g. [{ key: 'w17c24.3fa01b', candidate: <64 bytes> }, ...]
 */
export function indexEntries(hash: string, bits: number = CODE_BITS): IndexEntry[] {
  const all = hashWindows(hash);
  if (all === undefined) return [];
  const byCode = new Map<number, number[]>();
  for (const [window, code] of codes(all, bits).entries()) byCode.set(code, [...(byCode.get(code) ?? []), window]);
  const bytes = Buffer.from(hash, 'hex');
  const windowBytes = (window: number) => bytes.subarray(window * WINDOW_BYTES, (window + 1) * WINDOW_BYTES);
  return [...byCode].map(([code, windows]) => ({
    key: key(code, bits),
    candidate: new Uint8Array(Buffer.concat([windowBytes(0), ...windows.filter((window) => window > 0).map(windowBytes)])),
  }));
}

/** The keys of indexEntries alone. */
export const indexKeys = (hash: string, bits: number = CODE_BITS): string[] => indexEntries(hash, bits).map((entry) => entry.key);

/**
 * The keys a lookup queries, PROBE_KEYS of them (`count` other than that is for measuring):
 * first the coarse code of each window, then the codes a copy of the picture most likely has. A
 * copy's window and its original's share a code but for the odd coarse frequency near zero,
 * which one side sees positive and the other not: the signs the hash marks least steady, those
 * small against how far they move when the window's edges move (lib/replay/perceptual.ts). A
 * code with some of them flipped (at most FLIPPED_AT_ONCE of a window's FLIPPABLE_BITS least
 * steady) is likelier the less steady they are: the codes are taken in the order of their
 * flipped bits' summed steadiness, over all windows. A stored copy is found unless the window
 * pair that makes it similar differs in a sign this order reaches too late (bench/results.md
 * measures how often).
 */
export function probeKeys(hash: string, bits: number = CODE_BITS, count: number = PROBE_KEYS): string[] {
  const all = hashWindows(hash);
  if (all === undefined) return [];
  const guesses: Guess[] = [];
  for (const [window, code] of codes(all, bits).entries()) {
    const shaky = codeSteadiness(hash, window, bits)
      .map((steady, frequency) => ({ mask: 2 ** (bits - 1 - frequency), steady }))
      .sort((a, b) => a.steady - b.steady)
      .slice(0, FLIPPABLE_BITS);
    const flip = (guess: Guess, from: number, left: number): void => {
      for (const [at, { mask, steady }] of shaky.entries()) {
        if (at < from) continue;
        const flipped = { code: (guess.code ^ mask) >>> 0, steady: guess.steady + steady };
        guesses.push(flipped);
        if (left > 1) flip(flipped, at + 1, left - 1);
      }
    };
    const exact = { code, steady: 0 };
    guesses.push(exact);
    flip(exact, 0, FLIPPED_AT_ONCE);
  }
  const probes = new Set<number>();
  for (const { code } of guesses.sort((a, b) => a.steady - b.steady)) {
    if (probes.size === count) break;
    probes.add(code);
  }
  return [...probes].map((code) => key(code, bits));
}

/** A code a copy may have, and the summed steadiness of the bits flipped to get it: the less, the likelier. */
interface Guess {
  code: number;
  steady: number;
}

/** How steady each sign of a window's code is, the code's highest bit first: its size over its move (lib/replay/perceptual.ts), 1 when equal. */
function codeSteadiness(hash: string, window: number, bits: number): number[] {
  const from = SIGNS_HEX + window * COARSE_FREQUENCIES.length;
  return Array.from({ length: bits }, (_, frequency) => 2 ** ((Number.parseInt(hash.charAt(from + frequency), 16) - STEADY_LEVEL) / 2));
}
