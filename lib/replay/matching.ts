/**
 * How two pictures are compared, as the digest store and the guard see it: a perceptual hash of
 * the pixels, the keys a stored hash is written under (each with its candidate: what a lookup
 * meeting it there compares), the keys a lookup reads, and the comparison of a candidate with the
 * lookup's hash. They depend on these only, so the hash and its index can change
 * (lib/replay/perceptual.ts, lib/replay/bands.ts) without touching either.
 *
 * Between them: a stored hash `a` and a lookup `b` meet when a key of `indexEntries(a)` is among
 * `probeKeys(b)`, and `b` is a copy of `a` when that key's candidate `isSimilar` to `b`. Every
 * re-encoded, resized or converted copy is met, and nearly every crop of up to 5 % a side; a few
 * strong crops are not (bench/results.md counts them, docs/design.md says why).
 *
 * @example
 * const hash = perceptualHash(pixels);                    // lowercase hex
 * await store.add(indexEntries(hash));                    // a small item under each key
 * const candidates = await store.read(probeKeys(hash));
 * const copies = candidates.filter((candidate) => isSimilar(candidate, hash));
 */
export { indexEntries, indexKeys, isSimilar, probeKeys, type IndexEntry } from './bands.ts';
export { perceptualHash, type OrientedPixels } from './perceptual.ts';
