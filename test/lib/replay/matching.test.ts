import { describe, expect, it } from 'vitest';
import { indexEntries, indexKeys, isSimilar, perceptualHash, probeKeys } from '../../../lib/replay/matching.ts';
import { WINDOWS } from '../../../lib/replay/perceptual.ts';
import { cropped, decodeJpeg, decodePng, encodeJpeg, type Picture } from '../../support/pictures.ts';
import { fixtureImage } from '../../support/relay.ts';

/**
 * What the digest store relies on, whatever the hash and its index: a stored copy meets the
 * lookup under a key whose candidate, small enough for one write unit, is judged as the whole
 * hash would be.
 */
const hashOf = (picture: Picture) => perceptualHash({ ...picture, orientation: 1 });
const FACE = decodeJpeg(fixtureImage('face-480p.jpg'));
const ORIGINAL = hashOf(FACE);

/** The candidates of `stored` under the keys a lookup of `query` reads, as the store gets them. */
const candidatesMet = (stored: string, query: string) => {
  const probes = new Set(probeKeys(query));
  return indexEntries(stored).filter(({ key }) => probes.has(key)).map(({ candidate }) => candidate);
};

describe('the index of perceptual hashes', () => {
  it.each([
    ['re-compressed', () => decodeJpeg(encodeJpeg(FACE, 50))],
    ['cropped by 5 % at every side', () => decodeJpeg(encodeJpeg(cropped(FACE, 0.05, 0.05, 0.05, 0.05), 70))],
    ['cropped by 5 % at the left', () => decodeJpeg(encodeJpeg(cropped(FACE, 0.05, 0, 0, 0), 70))],
  ])('meets a copy %s under a key whose candidate is similar, whichever came first', (_, copy) => {
    const hash = hashOf(copy());

    expect(candidatesMet(ORIGINAL, hash).some((candidate) => isSimilar(candidate, hash))).toBe(true);
    expect(candidatesMet(hash, ORIGINAL).some((candidate) => isSimilar(candidate, ORIGINAL))).toBe(true);
  });

  it('judges a candidate never more leniently than the whole hash: other photographs met under a key are not similar', () => {
    for (const other of [decodeJpeg(fixtureImage('obama-small.jpg')), decodeJpeg(fixtureImage('grace-hopper.jpg')), decodePng(fixtureImage('chelsea.png'))]) {
      const hash = hashOf(other);
      expect(isSimilar(hash, ORIGINAL)).toBe(false);
      for (const candidate of indexEntries(hash).map((entry) => entry.candidate)) expect(isSimilar(candidate, ORIGINAL)).toBe(false);
    }
  });

  it('writes a few keys a digest, each candidate the whole frame and the windows of its code, under 1 KB', () => {
    const entries = indexEntries(ORIGINAL);

    expect(entries.map((entry) => entry.key)).toEqual(indexKeys(ORIGINAL));
    expect(new Set(indexKeys(ORIGINAL)).size).toBe(entries.length);
    expect(entries.length).toBeGreaterThan(1);
    expect(probeKeys(ORIGINAL)).toEqual(expect.arrayContaining(indexKeys(ORIGINAL)));
    // Every window of the hash is in exactly one candidate but the whole frame, in all of them.
    const windows = entries.reduce((sum, entry) => sum + entry.candidate.length / 32 - 1, 0);
    expect(windows).toBe(WINDOWS - 1);
    for (const { candidate } of entries) {
      expect(Buffer.from(candidate.subarray(0, 32)).toString('hex')).toBe(ORIGINAL.slice(0, 64));
      expect(candidate.length).toBeLessThanOrEqual(ORIGINAL.length / 2);
      expect(isSimilar(candidate, ORIGINAL)).toBe(true);
    }
  });

  it('is lowercase hex, and a hash or a candidate is similar to the same picture only when it is one', () => {
    const [candidate] = indexEntries(ORIGINAL).map((entry) => entry.candidate);

    expect(ORIGINAL).toMatch(/^[0-9a-f]+$/);
    expect(isSimilar(ORIGINAL, ORIGINAL)).toBe(true);
    expect(isSimilar(ORIGINAL, ORIGINAL.toUpperCase().replace(/[0-9]/g, 'G'))).toBe(false);
    expect(isSimilar(ORIGINAL, `${ORIGINAL}0`)).toBe(false);
    expect(isSimilar(candidate?.subarray(1) ?? new Uint8Array(), ORIGINAL)).toBe(false);
    expect(isSimilar(new Uint8Array(32), ORIGINAL)).toBe(false);
    expect(isSimilar(new Uint8Array(), ORIGINAL)).toBe(false);
  });
});
