import { createHash } from 'node:crypto';
import { fileTypeFromBuffer } from 'file-type';
import { describe, expect, it } from 'vitest';
import { prepareImageBytes, prepareImageText, sniffFormat } from '../../../lib/check/image.ts';
import { animatedPng, jpegFrame, jpegScan, jpegSegment } from '../../support/images.ts';
import { fixtureImage } from '../../support/relay.ts';

const JPEG = fixtureImage('face-480p.jpg');
const PNG = fixtureImage('face.png');
// A 1×1 lossless WebP: no WebP photograph is among the fixtures, and the format only needs its header.
const WEBP = Buffer.from('UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==', 'base64');
const GIF = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const HEADERS = {
  jpg: { width: 853, height: 480, channels: 3, bitsPerSample: 8 },
  png: { width: 424, height: 394, channels: 4, bitsPerSample: 8 },
  webp: { width: 1, height: 1, channels: 4, bitsPerSample: 8 },
};

describe('sniffFormat', () => {
  it.each([
    ['a JPEG', JPEG, 'jpg'],
    ['a PNG', PNG, 'png'],
    ['a WebP', WEBP, 'webp'],
    ['a GIF', GIF, undefined],
    ['text', Buffer.from('just some text, no image here'), undefined],
    ['nothing', Buffer.alloc(0), undefined],
  ])('recognises %s', async (_, bytes, format) => {
    expect(await sniffFormat(bytes)).toBe(format);
  });

  it('takes an animated PNG (acTL chunk) for the PNG it is', async () => {
    const apng = animatedPng(PNG);
    expect(await fileTypeFromBuffer(apng)).toMatchObject({ ext: 'apng' });
    expect(await sniffFormat(apng)).toBe('png');
    expect(await prepareImageBytes(apng, 1_000_000)).toMatchObject({ ok: true, image: { format: 'png', value: apng.toString('base64') } });
  });
});

describe('prepareImageText', () => {
  it('reports the format, decoded size, SHA-256 of the decoded bytes and proven header of base64 in any accepted form', async () => {
    // The JPEG's base64 spans several of the scan's 64 KiB chunks; its URL-safe form has - and _ in them.
    expect(JPEG.toString('base64url')).toMatch(/[-_]/);
    for (const [bytes, format] of [[JPEG, 'jpg'], [PNG, 'png'], [WEBP, 'webp']] as const) {
      const base64 = bytes.toString('base64');
      for (const text of [bytes.toString('base64url'), base64, base64.replace(/(.{76})/g, '$1\n'), `data:image/${format};base64,${base64.replace(/.{76}/g, '$&\r\n')}`]) {
        expect(await prepareImageText(text, 1_000_000)).toEqual({
          ok: true,
          image: { kind: 'base64', value: base64, format, byteLength: bytes.length, sha256: sha256(bytes), header: HEADERS[format] },
        });
      }
    }
  });

  it('hashes the decoded bytes of a long image, all of them, whose last digit carries unused bits', async () => {
    const long = Buffer.concat([JPEG, Buffer.alloc(200_000, 7)]);
    const text = long.toString('base64');
    expect(text).toMatch(/[^=]=$/);
    const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const sloppy = `${text.slice(0, -2)}${digits.charAt(digits.indexOf(text.at(-2) ?? 'A') ^ 1)}`;
    expect(Buffer.from(sloppy, 'base64').equals(long)).toBe(true);
    expect(await prepareImageText(sloppy, 1_000_000)).toMatchObject({ ok: true, image: { sha256: sha256(long), value: text } });
  });

  it('proves a header that runs past the first 64 KiB decoded, such as EXIF, ICC and XMP before the frame', async () => {
    const metadata = jpegSegment(0xe2, Buffer.alloc(65_000, 1));
    const photo = Buffer.concat([JPEG.subarray(0, 2), metadata, metadata, JPEG.subarray(2)]);
    expect(await prepareImageText(photo.toString('base64'), 1_000_000)).toMatchObject({ ok: true, image: { header: HEADERS.jpg, sha256: sha256(photo) } });
  });

  it.each([
    ['three bytes of a JPEG signature', '/9j/', /not a usable JPEG: it ends inside its header/],
    ['a JPEG header followed by HTML', Buffer.concat([JPEG.subarray(0, 2434), Buffer.from('<html><body onload=alert(1)>')]).toString('base64'), /not a usable JPEG/],
    ['a 16-byte RIFF/WEBP header', Buffer.from('RIFF\x24\x00\x00\x00WEBPVP8 ', 'latin1').toString('base64'), /not a usable WebP/],
    ['a JPEG declaring 65535 × 65535 pixels', Buffer.concat([JPEG.subarray(0, 2590), jpegFrame(65_535, 65_535), jpegScan(), Buffer.alloc(100)]).toString('base64'), /65535×65535 pixels/],
  ])('refuses %s as UNSUPPORTED_IMAGE_FORMAT, saying why', async (_, text, message) => {
    expect(await prepareImageText(text, 1_000_000)).toEqual({ ok: false, subCode: 'UNSUPPORTED_IMAGE_FORMAT', message: expect.stringMatching(message) });
  });

  it('walks the rest of base64 to the image’s end from wherever its header ends, in any alphabet', async () => {
    const html = Buffer.from('<html><body onload=alert(1)>'.repeat(5000));
    // Headers that end at each of the three places in a base64 quadruple, then junk well past the first 64 KiB.
    for (const cut of [2835, 2836, 2837]) {
      const junk = Buffer.concat([JPEG.subarray(0, 2835), Buffer.alloc(cut - 2835, 0x11), html]);
      for (const text of [junk.toString('base64'), junk.toString('base64url')]) {
        expect(await prepareImageText(text, 1_000_000)).toEqual({ ok: false, subCode: 'UNSUPPORTED_IMAGE_FORMAT', message: expect.stringMatching(/end-of-image marker/) });
      }
    }
    const large = Buffer.concat([PNG.subarray(0, PNG.length - 12), Buffer.alloc(100_000, 0x20), PNG.subarray(PNG.length - 12)]);
    expect(await prepareImageText(large.toString('base64'), 1_000_000)).toEqual({ ok: false, subCode: 'UNSUPPORTED_IMAGE_FORMAT', message: expect.stringMatching(/PNG: a chunk is malformed/) });
    const cut = PNG.subarray(0, PNG.length - 1);
    expect(await prepareImageText(cut.toString('base64'), 1_000_000)).toEqual({ ok: false, subCode: 'UNSUPPORTED_IMAGE_FORMAT', message: expect.stringMatching(/before its IEND/) });
  });

  it('clears the unused bits of the last digit, as decoding and encoding again would', async () => {
    const canonical = PNG.toString('base64');
    expect(canonical).toMatch(/[AQgw]==$/);
    const lastDigit = canonical.at(-3) ?? '';
    const sloppy = `${canonical.slice(0, -3)}${String.fromCharCode(lastDigit.charCodeAt(0) + 1)}==`;
    expect(Buffer.from(sloppy, 'base64').equals(PNG)).toBe(true);
    const result = await prepareImageText(sloppy, 1_000_000);
    expect(result).toMatchObject({ ok: true, image: { value: canonical } });
  });

  it('accepts an image of exactly maxBytes and refuses one byte less room', async () => {
    const text = JPEG.toString('base64');
    expect(await prepareImageText(text, JPEG.length)).toMatchObject({ ok: true });
    expect(await prepareImageText(text, JPEG.length - 1)).toMatchObject({ ok: false, subCode: 'PAYLOAD_TOO_LARGE' });
  });

  it('refuses a stray character anywhere in a long image, not only near its start', async () => {
    const text = JPEG.toString('base64');
    expect(text.length).toBeGreaterThan(2 * 64 * 1024);
    for (const at of [10, 70_000, text.length - 6]) {
      for (const stray of ['*', '=', '\u0000', '-']) {
        const result = await prepareImageText(`${text.slice(0, at)}${stray}${text.slice(at + 1)}`, 1_000_000);
        expect(result, `${JSON.stringify(stray)} at ${at}`).toMatchObject({ ok: false, subCode: 'INVALID_BASE64_STRING' });
      }
    }
  });

  it('refuses characters outside ASCII, even those whose low byte is a base64 digit', async () => {
    const text = JPEG.toString('base64');
    // Ł is U+0141 ('A' is 0x41), ī is U+012B ('+' is 0x2B), ａ is U+FF41.
    for (const stranger of ['\u0141', '\u012b', '\uff41', 'é']) {
      const result = await prepareImageText(`${text.slice(0, 400)}${stranger}${text.slice(401)}`, 1_000_000);
      expect(result, stranger).toMatchObject({ ok: false, subCode: 'INVALID_BASE64_STRING' });
    }
  });

  it('judges a URL by its host, and forwards the canonical form it judged', async () => {
    expect(await prepareImageText('HTTPS://Images.Example.com:443/a.jpg', 10)).toEqual({
      ok: true,
      image: { kind: 'url', value: 'https://images.example.com/a.jpg' },
    });
    expect(await prepareImageText('https://10.1.2.3/a.jpg', 10)).toMatchObject({ ok: false, subCode: 'INVALID_URL' });
  });

  it.each([
    ['a media type and a name', `data:image/jpeg;name=selfie.jpg;base64,`],
    ['several parameters', `data:image/jpeg;charset=binary;name=a.jpg;base64,`],
    ['another declared type', `data:application/octet-stream;base64,`],
    ['no media type', `data:;base64,`],
    ['capitals', `DATA:IMAGE/JPEG;BASE64,`],
  ])('reads an RFC 2397 data: URL with %s, and judges the bytes, not the declared type', async (_, prefix) => {
    expect(await prepareImageText(`${prefix}${JPEG.toString('base64')}`, 1_000_000)).toMatchObject({
      ok: true,
      image: { kind: 'base64', value: JPEG.toString('base64'), format: 'jpg' },
    });
  });

  it.each([
    ['without ;base64', `data:image/jpeg,${'%FF%D8'.repeat(2000)}`, 'INVALID_BASE64_STRING', /must carry the image as base64/],
    ['without a comma', `data:image/jpeg;base64${JPEG.toString('base64')}`, 'INVALID_BASE64_STRING', /must carry the image as base64/],
    ['with base64 that is not base64', 'data:image/jpeg;base64,<svg onload=alert(1)>', 'INVALID_BASE64_STRING', /neither an http\(s\) URL nor valid base64/],
    ['of text', 'data:text/plain;base64,aGVsbG8=', 'UNSUPPORTED_IMAGE_FORMAT', /JPEG, PNG or WebP/],
  ])('refuses a data: URL %s with an accurate message', async (_, text, subCode, message) => {
    expect(await prepareImageText(text, 1_000_000)).toEqual({ ok: false, subCode, message: expect.stringMatching(message) });
  });
});

describe('prepareImageBytes', () => {
  it('encodes accepted bytes once, as standard padded base64, with their SHA-256 and proven header', async () => {
    expect(await prepareImageBytes(PNG, PNG.length)).toEqual({
      ok: true,
      image: { kind: 'base64', value: PNG.toString('base64'), format: 'png', byteLength: PNG.length, sha256: sha256(PNG), header: HEADERS.png },
    });
  });

  it('encodes and digests a view into a larger buffer without its neighbours', async () => {
    const surrounded = Buffer.concat([Buffer.from('before'), WEBP, Buffer.from('after')]);
    const view = surrounded.subarray(6, 6 + WEBP.length);
    expect(await prepareImageBytes(view, 1000)).toMatchObject({ ok: true, image: { value: WEBP.toString('base64'), sha256: sha256(WEBP) } });
  });

  it.each([
    ['too large', JPEG, JPEG.length - 1, 'PAYLOAD_TOO_LARGE'],
    ['a GIF', GIF, 1000, 'UNSUPPORTED_IMAGE_FORMAT'],
    ['empty', Buffer.alloc(0), 1000, 'UNSUPPORTED_IMAGE_FORMAT'],
    ['a JPEG signature alone', Buffer.from([0xff, 0xd8, 0xff]), 1000, 'UNSUPPORTED_IMAGE_FORMAT'],
    ['a PNG cut before its image data', PNG.subarray(0, 3000), 1_000_000, 'UNSUPPORTED_IMAGE_FORMAT'],
    ['a PNG cut inside its image data', PNG.subarray(0, 30_000), 1_000_000, 'UNSUPPORTED_IMAGE_FORMAT'],
    ['a JPEG cut inside its image data', JPEG.subarray(0, JPEG.length - 2), 1_000_000, 'UNSUPPORTED_IMAGE_FORMAT'],
  ])('refuses bytes that are %s', async (_, bytes, maxBytes, subCode) => {
    expect(await prepareImageBytes(bytes, maxBytes)).toMatchObject({ ok: false, subCode });
  });
});
