import { describe, expect, it } from 'vitest';
import { prepareImageBytes, prepareImageText, type PreparedImage } from '../../../lib/check/image.ts';
import { checkPixels, decodeBytes, loadPixelDecoder, MAX_DECODE_BYTES, MAX_DECODE_PIXELS, toDecode, type PixelDecoder } from '../../../lib/check/pixels.ts';
import { decodePixels } from '../../../lib/check/decode.ts';
import { blackPng } from '../../support/images.ts';
import { decodeJpeg, encodeJpeg, placed } from '../../support/pictures.ts';
import { fixtureImage } from '../../support/relay.ts';

const MiB = 1024 * 1024;

async function prepared(bytes: Buffer): Promise<PreparedImage> {
  const result = await prepareImageBytes(bytes, 4 * MiB);
  if (!result.ok) throw new Error(result.message);
  return result.image;
}

/** The package's decoder, counting its calls. */
function countingDecoder(): { decode: PixelDecoder; calls: () => number } {
  let calls = 0;
  return {
    decode: (bytes, format, header) => {
      calls += 1;
      return decodePixels(bytes, format, header);
    },
    calls: () => calls,
  };
}

describe('checkPixels', () => {
  it('decodes once, for every step that asks, at once or later', async () => {
    const { decode, calls } = countingDecoder();
    const pixels = checkPixels(await prepared(fixtureImage('face-480p.jpg')), decode);
    const [first, second] = await Promise.all([pixels(), pixels()]);
    const third = await pixels();
    expect(calls()).toBe(1);
    expect(first).toMatchObject({ ok: true, pixels: { width: 853, height: 480, orientation: 1 } });
    expect(second).toBe(first);
    expect(third).toBe(first);
    if (first.ok) expect(first.pixels.data).toHaveLength(853 * 480 * 4);
  });

  it('gives the EXIF orientation with the pixels as stored', async () => {
    const result = await checkPixels(await prepared(fixtureImage('live-selfie-exif-rotated.jpg')), decodePixels)();
    expect(result).toMatchObject({ ok: true, pixels: { width: 640, height: 480, orientation: 6 } });
  });

  it('refuses a 200 KB 5000×5000 16-bit RGBA PNG before decoding a byte of it', async () => {
    const bomb = await blackPng(5000, 5000, 16, 6);
    expect(bomb.length).toBeLessThan(210_000);
    const image = await prepared(bomb);
    expect(image).toMatchObject({ header: { width: 5000, height: 5000, channels: 4, bitsPerSample: 16 } });
    const { decode, calls } = countingDecoder();
    const started = performance.now();
    const result = await checkPixels(image, decode)();
    expect(performance.now() - started).toBeLessThan(50);
    expect(result).toEqual({ ok: false, reason: `its 5000×5000 pixels are over the ${MAX_DECODE_PIXELS} a decode may hold` });
    expect(calls()).toBe(0);
  });

  it('counts bytes per pixel: a 16-bit RGBA PNG under the pixel limit is refused where an 8-bit one is decoded', async () => {
    const { decode, calls } = countingDecoder();
    const deep = await prepared(await blackPng(2048, 2048, 16, 6));
    expect(decodeBytes('png', { width: 2048, height: 2048, channels: 4, bitsPerSample: 16 })).toBeGreaterThan(MAX_DECODE_BYTES);
    expect(await checkPixels(deep, decode)()).toEqual({ ok: false, reason: expect.stringMatching(/^decoding it would hold about \d+ MiB, over 128 MiB$/) });
    expect(calls()).toBe(0);

    const shallow = await prepared(await blackPng(2048, 2048, 8, 6));
    expect(await checkPixels(shallow, decode)()).toMatchObject({ ok: true, pixels: { width: 2048, height: 2048 } });
    expect(calls()).toBe(1);
  });

  it('reports a decoder failure as no pixels, never as an error', async () => {
    // The structure is intact to EOI, and the entropy-coded data is cut short: only decoding can tell.
    const truncated = await prepared(Buffer.concat([fixtureImage('two-faces.jpg').subarray(0, 3000), Buffer.from([0xff, 0xd9])]));
    expect(await checkPixels(truncated, decodePixels)()).toEqual({ ok: false, reason: expect.any(String) });
  });

  it('decodes a WebP photograph as it decodes the JPEG it was made from', async () => {
    const webp = await checkPixels(await prepared(fixtureImage('face-480p.webp')), decodePixels)();
    const jpeg = await checkPixels(await prepared(fixtureImage('face-480p.jpg')), decodePixels)();
    if (!webp.ok || !jpeg.ok) throw new Error('not decoded');
    expect(webp.pixels).toMatchObject({ width: 853, height: 480, orientation: 1 });
    let difference = 0;
    for (let at = 0; at < webp.pixels.data.length; at += 1) difference += Math.abs((webp.pixels.data[at] as number) - (jpeg.pixels.data[at] as number));
    expect(difference / webp.pixels.data.length).toBeLessThan(4);
  });

  it('decodes nothing without a decoder, or for an image URL', async () => {
    expect(await checkPixels(await prepared(fixtureImage('face.png')), undefined)()).toEqual({ ok: false, reason: 'no decoder is loaded' });
    const url = await prepareImageText('https://images.example.com/selfie.jpg', MiB);
    if (!url.ok) throw new Error(url.message);
    expect(toDecode(url.image)).toEqual({ ok: false, reason: expect.stringMatching(/URL/) });
  });

  it('decodes in a thread of its own: the check’s event loop stays free while a large photo is decoded', async () => {
    const image = await prepared(encodeJpeg(placed(decodeJpeg(fixtureImage('face-480p.jpg')), { width: 2048, height: 1536, scale: 2.4 }), 90));
    const decode = loadPixelDecoder(undefined);
    await checkPixels(await prepared(fixtureImage('face-480p.jpg')), decode)();
    let longestGap = 0;
    let last = performance.now();
    const ticks = setInterval(() => {
      longestGap = Math.max(longestGap, performance.now() - last);
      last = performance.now();
    }, 5);
    const result = await checkPixels(image, decode)();
    // One more tick: a gap the decode made shows only when the timer fires after it.
    await new Promise((resolve) => setTimeout(resolve, 20));
    clearInterval(ticks);
    if (!result.ok) throw new Error(result.reason);
    expect(result.pixels).toMatchObject({ width: 2048, height: 1536 });
    expect(result.decodeMs).toBeGreaterThan(100);
    // On the check's thread, the decode would hold it for all of decodeMs.
    expect(longestGap).toBeLessThan(result.decodeMs / 2);
  });

  it('loads the decoder from the module named, and says why not when it cannot', async () => {
    const image = await prepared(fixtureImage('face-480p.webp'));
    expect(await checkPixels(image, loadPixelDecoder(undefined))()).toMatchObject({ ok: true, pixels: { width: 853, height: 480 } });
    expect(await checkPixels(image, loadPixelDecoder('/nonexistent/decode.mjs'))()).toEqual({ ok: false, reason: expect.stringMatching(/nonexistent/) });
  });
});

describe('decodeBytes', () => {
  it.each([
    ['an 8-bit RGB JPEG at 37 bytes a pixel', 'jpg', 3, 8, 37],
    ['an 8-bit grey JPEG at 15 bytes a pixel', 'jpg', 1, 8, 15],
    ['an 8-bit RGBA PNG at 21 bytes a pixel', 'png', 4, 8, 21],
    ['a 16-bit RGBA PNG at 41 bytes a pixel', 'png', 4, 16, 41],
    ['a 1-bit grey PNG at 9.375 bytes a pixel', 'png', 1, 1, 9.375],
    ['a WebP at 14 bytes a pixel', 'webp', 4, 8, 14],
  ] as const)('counts %s', (_, format, channels, bitsPerSample, perPixel) => {
    expect(decodeBytes(format, { width: 1000, height: 1000, channels, bitsPerSample })).toBe(perPixel * 1e6);
  });
});
