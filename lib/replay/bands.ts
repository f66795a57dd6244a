import { PERCEPTUAL_HASH_BITS } from './perceptual.ts';

/**
 * Two perceptual hashes this many bits apart, or fewer, are the same picture: a copy. Chosen from
 * measurements (bench/replay-threshold.ts, bench/results.md): every copy of the fixture
 * photographs (resized, re-compressed, cropped up to 5 % a side, brightened, converted) lies
 * within it, and no two different photographs do. Changing it changes the band keys: digests
 * stored under the old value are then found only exactly, until they expire.
 */
export const REPLAY_DISTANCE = 18;

/**
 * Multi-index hashing: the 64 bits are cut into `distance + 1` bands of consecutive bits. Two
 * hashes at most `distance` bits apart differ in at most `distance` bands, so they agree exactly
 * on at least one (the pigeonhole principle): looking up each band of a hash as an exact key
 * finds every stored hash within the distance, without a scan. The candidates found are then
 * compared whole.
 *
 * A band key names the layout (how many bands), the band and its bits, e.g. `19.0.5`: digests
 * stored under another distance never share a key with these.
 *
 * @example
 * bandKeys('c3e1f0b08c9f3a12', 18); // ['19.0.6', '19.1.1', ...], one per band
 */
export function bandKeys(hash: string, distance: number = REPLAY_DISTANCE): string[] {
  const bands = distance + 1;
  const value = BigInt(`0x${hash}`);
  const keys: string[] = [];
  let start = 0;
  for (let band = 0; band < bands; band += 1) {
    // The first bands take one bit more when the bits do not divide evenly.
    const width = Math.floor(PERCEPTUAL_HASH_BITS / bands) + (band < PERCEPTUAL_HASH_BITS % bands ? 1 : 0);
    const bits = (value >> BigInt(PERCEPTUAL_HASH_BITS - start - width)) & ((1n << BigInt(width)) - 1n);
    keys.push(`${bands}.${band}.${bits.toString(16)}`);
    start += width;
  }
  return keys;
}
