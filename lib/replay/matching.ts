/**
 * How two pictures are compared, as the digest store and the guard see it: a perceptual hash of
 * the pixels, the keys a stored hash is written under, the keys a lookup reads, and the whole-hash
 * comparison of a candidate found under them. They depend on these four only, so the hash and its
 * index can change (lib/replay/perceptual.ts, lib/replay/bands.ts) without touching either.
 *
 * The contract between them: every stored hash `a` with `isSimilar(a, b)` shares at least one key
 * between `indexKeys(a)` and `probeKeys(b)`, so a lookup by those keys finds every copy without a
 * scan. Today both are the bands of a 64-bit DCT hash (multi-index hashing), so the probe reads
 * exactly the keys a hash is written under.
 *
 * @example
 * const hash = perceptualHash(pixels);             // lowercase hex
 * await store.add(indexKeys(hash));                // written under these
 * const candidates = await store.read(probeKeys(hash));
 * const copies = candidates.filter((other) => isSimilar(other, hash));
 */
import { bandKeys, REPLAY_DISTANCE } from './bands.ts';
import { hammingDistance } from './perceptual.ts';

export { perceptualHash, type OrientedPixels } from './perceptual.ts';

/** The keys a stored perceptual hash is written under. */
export const indexKeys = (hash: string): string[] => bandKeys(hash);

/** The keys a lookup of `hash` reads: every stored hash similar to it is under one of them. */
export const probeKeys = (hash: string): string[] => bandKeys(hash);

const HEX = /^[0-9a-f]+$/;

/** Whether two perceptual hashes are of the same picture (a copy: re-encoded, resized, lightly cropped); false for anything not a hash of the same length. */
export const isSimilar = (a: string, b: string): boolean => a.length === b.length && HEX.test(a) && HEX.test(b) && hammingDistance(a, b) <= REPLAY_DISTANCE;
