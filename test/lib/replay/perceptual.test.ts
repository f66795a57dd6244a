import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CODE_BITS, indexKeys, isSimilar, perceptualDistance, probeKeys, REPLAY_DISTANCE } from '../../../lib/replay/bands.ts';
import { perceptualHash, WINDOW_HEX, WINDOWS } from '../../../lib/replay/perceptual.ts';
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
    const wholeFrames = (a: string, b: string) => perceptualDistance(a.slice(0, WINDOW_HEX).repeat(WINDOWS), b.slice(0, WINDOW_HEX).repeat(WINDOWS));

    expect(wholeFrames(hash, ORIGINAL)).toBeGreaterThan(REPLAY_DISTANCE);
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

  it('is 17 windows of 64 lowercase hex digits, for any size of picture, and a flat picture has no bit set', () => {
    const flat = (width: number, height: number) => ({ width, height, data: new Uint8Array(width * height * 4).fill(200) });

    expect(ORIGINAL).toMatch(new RegExp(`^[0-9a-f]{${WINDOWS * WINDOW_HEX}}$`));
    for (const [width, height] of [[1, 1], [3, 2], [1, 500], [64, 64], [65, 3]] as const) expect(perceptualHash(flat(width, height))).toBe('0'.repeat(WINDOWS * WINDOW_HEX));
    expect(perceptualHash({ width: 2, height: 1, data: [0, 0, 0, 255, 255, 255, 255, 255] })).toMatch(/^[0-9a-f]{1088}$/);
  });

  it('never matches a hash of another layout, a malformed one or a featureless picture\'s, and gives those no keys', () => {
    const blank = perceptualHash({ width: 640, height: 480, data: new Uint8Array(640 * 480 * 4) });

    expect(isSimilar(blank, blank)).toBe(false);
    expect([...indexKeys(blank), ...probeKeys(blank)]).toEqual([]);
    expect(isSimilar('c3e1f0b08c9f3a12', 'c3e1f0b08c9f3a12')).toBe(false);
    expect(isSimilar(ORIGINAL.toUpperCase(), ORIGINAL)).toBe(false);
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

  it('are a few per digest, named after the layout, and a lookup queries each code and every code one bit away', () => {
    const keys = indexKeys(ORIGINAL);

    expect(keys.length).toBeGreaterThan(0);
    expect(keys.length).toBeLessThanOrEqual(WINDOWS);
    expect(keys.every((key) => new RegExp(`^w${WINDOWS}c${CODE_BITS}\\.[0-9a-f]{${CODE_BITS / 4}}$`).test(key))).toBe(true);
    expect(probeKeys(ORIGINAL)).toEqual(expect.arrayContaining(keys));
    expect(probeKeys(ORIGINAL).length).toBeLessThanOrEqual(keys.length * (CODE_BITS + 1));
  });

  it('meet for any two hashes whose codes differ in one bit', () => {
    const window = fc.array(fc.integer({ min: 0, max: 15 }), { minLength: WINDOW_HEX, maxLength: WINDOW_HEX }).map((digits) => digits.map((digit) => digit.toString(16)).join(''));
    // One of the code's bits: the sign of the lowest vertical frequency, bit 16 of each window (the top bit of its fifth hex digit).
    const flipFirstCodeBit = (hash: string) => hash.replace(/(.{4})(.)(.{59})/g, (_, before: string, digit: string, after: string) => `${before}${(Number.parseInt(digit, 16) ^ 8).toString(16)}${after}`);
    fc.assert(
      fc.property(fc.array(window, { minLength: WINDOWS, maxLength: WINDOWS }), (windows) => {
        const stored = windows.join('');
        const found = probeKeys(flipFirstCodeBit(stored)).filter((key) => indexKeys(stored).includes(key));
        expect(found.length).toBeGreaterThan(0);
      }),
      { numRuns: 50 },
    );
  });
});
