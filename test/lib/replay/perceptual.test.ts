import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CODE_BITS, indexKeys, isSimilar, perceptualDistance, PROBE_KEYS, probeKeys, REPLAY_DISTANCE } from '../../../lib/replay/bands.ts';
import { COARSE_FREQUENCIES, FREQUENCIES, HASH_HEX, perceptualHash, SIGNS_HEX, STEADY_LEVEL, WINDOW_HEX, WINDOWS } from '../../../lib/replay/perceptual.ts';
import { cropped, darkened, decodeJpeg, encodeJpeg, type Picture } from '../../support/pictures.ts';

/**
 * The perceptual hash and its keys on real photographs: copies a replayer would make (smaller,
 * re-compressed, cropped, darker) are the same picture and are found by the keys; other
 * photographs, of the same person or of others, are not the same picture.
 */
const photograph = (name: string): Picture => decodeJpeg(readFileSync(new URL(`../../fixtures/images/${name}`, import.meta.url)));
const FACE = photograph('face-480p.jpg');
const ORIGINAL = perceptualHash(FACE);

/** Every second pixel in each direction: half the size. */
function halved(picture: Picture): Picture {
  const width = Math.floor(picture.width / 2);
  const height = Math.floor(picture.height / 2);
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) data.set(picture.data.subarray((2 * y * picture.width + 2 * x) * 4, (2 * y * picture.width + 2 * x) * 4 + 4), (y * width + x) * 4);
  }
  return { width, height, data };
}

/** As a file shows it, re-encoded at JPEG quality `quality`. */
const reencoded = (picture: Picture, quality: number): Picture => decodeJpeg(encodeJpeg(picture, quality));

describe('the perceptual hash of a photograph', () => {
  it.each([
    ['half the size', () => reencoded(halved(FACE), 90)],
    ['re-compressed at JPEG quality 50', () => reencoded(FACE, 50)],
    ['10 % darker', () => reencoded(darkened(FACE, 0.9), 90)],
    ['cropped by 5 % at the left and the top', () => reencoded(cropped(FACE, 0.05, 0.05, 0, 0), 75)],
    ['cropped by 5 % at every side', () => reencoded(cropped(FACE, 0.05, 0.05, 0.05, 0.05), 75)],
  ])('is the same picture for a copy %s, in both directions', (_, copy) => {
    const hash = perceptualHash(copy());

    expect(isSimilar(hash, ORIGINAL)).toBe(true);
    expect(isSimilar(ORIGINAL, hash)).toBe(true);
  });

  it('tells a crop only by comparing the same part of both: their whole frames alone are further apart than the distance', () => {
    const hash = perceptualHash(reencoded(cropped(FACE, 0.05, 0.05, 0, 0), 75));
    const wholeFrameOnly = (hash: string) => hash.slice(0, WINDOW_HEX).repeat(WINDOWS) + hash.slice(SIGNS_HEX);
    const wholeFrames = (a: string, b: string) => perceptualDistance(wholeFrameOnly(a), wholeFrameOnly(b));

    expect(wholeFrames(hash, ORIGINAL)).toBeGreaterThan(REPLAY_DISTANCE);
    expect(wholeFrames(hash, ORIGINAL)).toBeLessThan(Number.POSITIVE_INFINITY);
    expect(perceptualDistance(hash, ORIGINAL)).toBeLessThanOrEqual(REPLAY_DISTANCE);
  });

  it.each(['two-faces.jpg', 'obama-2.jpg', 'obama-small.jpg', 'biden.jpg', 'grace-hopper.jpg', 'rocket.jpg'])('is not the same picture as another photograph (%s)', (name) => {
    expect(isSimilar(perceptualHash(photograph(name)), ORIGINAL)).toBe(false);
  });

  it('is of the picture as shown: pixels stored sideways with EXIF orientation 6 hash as the upright picture', () => {
    // Orientation 6 shows the stored pixels turned a quarter clockwise: store the upright face turned a quarter anticlockwise.
    const { width, height, data } = FACE;
    const stored = new Uint8Array(data.length);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) stored.set(data.subarray((y * width + x) * 4, (y * width + x) * 4 + 4), ((width - 1 - x) * height + y) * 4);
    }

    expect(perceptualHash({ width: height, height: width, data: stored, orientation: 6 })).toBe(ORIGINAL);
    expect(isSimilar(perceptualHash({ width: height, height: width, data: stored }), ORIGINAL)).toBe(false);
  });

  it('is the signs of 17 windows, 64 lowercase hex digits each, then a steadiness digit for each window\'s 30 coarsest frequencies, for any size of picture; a flat picture has neither', () => {
    const flat = (width: number, height: number) => ({ width, height, data: new Uint8Array(width * height * 4).fill(200) });

    expect([SIGNS_HEX, HASH_HEX]).toEqual([17 * 64, 17 * 64 + 17 * 30]);
    expect(ORIGINAL).toMatch(new RegExp(`^[0-9a-f]{${HASH_HEX}}$`));
    // A photograph's coarse frequencies are some steady, some not.
    expect(new Set(ORIGINAL.slice(SIGNS_HEX)).size).toBeGreaterThan(4);
    for (const [width, height] of [[1, 1], [3, 2], [1, 500], [64, 64], [65, 3]] as const) expect(perceptualHash(flat(width, height))).toBe('0'.repeat(HASH_HEX));
    expect(perceptualHash({ width: 2, height: 1, data: [0, 0, 0, 255, 255, 255, 255, 255] })).toMatch(new RegExp(`^[0-9a-f]{${HASH_HEX}}$`));
  });

  it('never matches a hash of another layout, a malformed one or a featureless picture\'s, and gives those no keys', () => {
    const blank = perceptualHash({ width: 640, height: 480, data: new Uint8Array(640 * 480 * 4) });

    expect(isSimilar(blank, blank)).toBe(false);
    expect([...indexKeys(blank), ...probeKeys(blank)]).toEqual([]);
    expect(isSimilar('c3e1f0b08c9f3a12', 'c3e1f0b08c9f3a12')).toBe(false);
    expect(isSimilar(ORIGINAL.toUpperCase(), ORIGINAL)).toBe(false);
    expect(isSimilar(ORIGINAL.slice(0, SIGNS_HEX), ORIGINAL)).toBe(false);
    expect(isSimilar(ORIGINAL, ORIGINAL)).toBe(true);
    expect(indexKeys('c3e1f0b08c9f3a12')).toEqual([]);
    expect(probeKeys('not a hash')).toEqual([]);
  });
});

describe('the index keys of a perceptual hash', () => {
  it('find a cropped, re-encoded copy among its original\'s keys, and the original among the copy\'s', () => {
    const copy = perceptualHash(reencoded(cropped(FACE, 0.05, 0, 0, 0), 60));

    expect(probeKeys(copy).some((key) => indexKeys(ORIGINAL).includes(key))).toBe(true);
    expect(probeKeys(ORIGINAL).some((key) => indexKeys(copy).includes(key))).toBe(true);
  });

  it('are a few per digest, named after the layout, and a lookup queries each code first, PROBE_KEYS keys in all', () => {
    const keys = indexKeys(ORIGINAL);
    const probes = probeKeys(ORIGINAL);

    expect(keys.length).toBeGreaterThan(0);
    expect(keys.length).toBeLessThanOrEqual(WINDOWS);
    expect(keys.every((key) => new RegExp(`^w${WINDOWS}c${CODE_BITS}\\.[0-9a-f]{${CODE_BITS / 4}}$`).test(key))).toBe(true);
    expect(probes).toHaveLength(PROBE_KEYS);
    expect(new Set(probes).size).toBe(PROBE_KEYS);
    expect(probes.slice(0, keys.length).sort()).toEqual([...keys].sort());
    expect(probes.every((key) => new RegExp(`^w${WINDOWS}c${CODE_BITS}\\.[0-9a-f]{${CODE_BITS / 4}}$`).test(key))).toBe(true);
  });

  it('meet for any two hashes whose codes differ in the sign the lookup marks least steady, and in no sign it marks steady', () => {
    const digits = (length: number, min: number) => fc.array(fc.integer({ min, max: 15 }), { minLength: length, maxLength: length }).map((all) => all.map((digit) => digit.toString(16)).join(''));
    /** The hash with the sign of its whole frame's `coarse`th coarse frequency flipped, and that frequency's steadiness set to `level`. */
    const flipped = (hash: string, coarse: number, level: number) => {
      const [v, u] = COARSE_FREQUENCIES[coarse] as readonly [number, number];
      const digit = Math.floor((v * FREQUENCIES + u) / 4);
      const sign = (Number.parseInt(hash.charAt(digit), 16) ^ (8 >> (v * FREQUENCIES + u) % 4)).toString(16);
      const steadiness = SIGNS_HEX + coarse;
      return `${hash.slice(0, digit)}${sign}${hash.slice(digit + 1, steadiness)}${level.toString(16)}${hash.slice(steadiness + 1)}`;
    };
    // Every window alike, so that no other window's code meets by chance.
    const alike = (hash: string) => hash.slice(0, WINDOW_HEX).repeat(WINDOWS) + hash.slice(SIGNS_HEX, SIGNS_HEX + COARSE_FREQUENCIES.length).repeat(WINDOWS);
    const met = (lookup: string, stored: string) => probeKeys(alike(lookup)).some((key) => indexKeys(alike(stored)).includes(key));
    fc.assert(
      fc.property(digits(WINDOW_HEX, 0), digits(COARSE_FREQUENCIES.length, 1), fc.integer({ min: 0, max: CODE_BITS - 1 }), (window, levels, coarse) => {
        const stored = window.repeat(WINDOWS) + levels.repeat(WINDOWS);
        fc.pre(indexKeys(alike(stored)).length > 0);
        // The least steady: a sign near zero, which a copy may see either way.
        expect(met(flipped(stored, coarse, 0), stored)).toBe(true);
        // Steadier than every other sign of its code: never guessed.
        const steady = window.repeat(WINDOWS) + STEADY_LEVEL.toString(16).repeat(HASH_HEX - SIGNS_HEX);
        expect(met(flipped(steady, coarse, 15), steady)).toBe(false);
      }),
      { numRuns: 50 },
    );
  });
});
