import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { indexKeys, isSimilar, perceptualHash, probeKeys } from '../../../lib/replay/matching.ts';
import { decodeJpeg } from '../../support/pictures.ts';
import { fixtureImage } from '../../support/relay.ts';

/**
 * What the digest store relies on, whatever the hash and its index: every stored hash a lookup
 * must find shares a key with the lookup, and a candidate is judged on its whole hash.
 */
describe('the index of perceptual hashes', () => {
  const hash = perceptualHash({ ...decodeJpeg(fixtureImage('face-480p.jpg')), orientation: 1 });
  const bits = hash.length * 4;
  const flipped = (original: string, flips: number[]) =>
    (BigInt(`0x${original}`) ^ flips.reduce((mask, bit) => mask | (1n << BigInt(bit)), 0n)).toString(16).padStart(original.length, '0');
  const hashes = fc.bigInt({ min: 0n, max: 2n ** BigInt(bits) - 1n }).map((value) => value.toString(16).padStart(hash.length, '0'));

  it('gives every similar hash a probe key the original was stored under, so that no copy is missed', () => {
    fc.assert(
      fc.property(hashes, fc.uniqueArray(fc.integer({ min: 0, max: bits - 1 }), { maxLength: bits / 2 }), (original, flips) => {
        const copy = flipped(original, flips);
        fc.pre(isSimilar(copy, original));
        expect(probeKeys(copy).some((key) => indexKeys(original).includes(key))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('is lowercase hex, and a hash is similar to itself only when it is one', () => {
    expect(hash).toMatch(/^[0-9a-f]+$/);
    expect(isSimilar(hash, hash)).toBe(true);
    expect(isSimilar(hash, hash.toUpperCase().replace(/[0-9]/g, 'G'))).toBe(false);
    expect(isSimilar(hash, `${hash}0`)).toBe(false);
  });

  it('tells another photograph apart from the first', () => {
    expect(isSimilar(hash, perceptualHash({ ...decodeJpeg(fixtureImage('grace-hopper.jpg')), orientation: 1 }))).toBe(false);
  });
});
