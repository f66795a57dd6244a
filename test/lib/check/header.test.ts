import { describe, expect, it } from 'vitest';
import { MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, proveEnd, proveHeader, proveImage, type ImageFormat } from '../../../lib/check/header.ts';
import { animatedPng, jpegFrame, jpegScan, jpegSegment, PNG_SIGNATURE, pngChunk, pngHeader, riffChunk, vp8Frame, webp } from '../../support/images.ts';
import { fixtureImage, type FixtureImage } from '../../support/relay.ts';

const JPEG = fixtureImage('face-480p.jpg');
const PNG = fixtureImage('face.png');
const SOI = Buffer.from([0xff, 0xd8]);
const APP0 = jpegSegment(0xe0, Buffer.from('JFIF\0\x01\x01\0\0\x01\0\x01\0\0', 'latin1'));
const TABLES = jpegSegment(0xdb, Buffer.alloc(65));
const ENTROPY = Buffer.alloc(64, 0x55);
const EOI = Buffer.from([0xff, 0xd9]);
/** A JPEG of APP0 and these segments, then entropy-coded data and EOI. */
const jpeg = (...segments: Buffer[]) => Buffer.concat([SOI, APP0, ...segments, ENTROPY, EOI]);
const IDAT = pngChunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
const IEND = pngChunk('IEND', Buffer.alloc(0));
/** A PNG of these chunks, then IEND. */
const png = (...chunks: Buffer[]) => Buffer.concat([PNG_SIGNATURE, ...chunks, IEND]);
/** A 1 × 1 lossless WebP (a VP8L chunk with alpha). */
const WEBP = Buffer.from('UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==', 'base64');
/** A VP8X header for a canvas of this size, with these flags. */
const vp8x = (width: number, height: number, flags = 0) => {
  const data = Buffer.alloc(10);
  data[0] = flags;
  data.writeUIntLE(width - 1, 4, 3);
  data.writeUIntLE(height - 1, 7, 3);
  return riffChunk('VP8X', data);
};

const prove = (bytes: Buffer, format: ImageFormat) => proveImage(bytes, format);

describe('proveImage: the header, then the rest to its end', () => {
  it.each([
    ['face-480p.jpg', 'jpg', 853, 480, 3],
    ['live-selfie-exif-rotated.jpg', 'jpg', 640, 480, 3],
    ['two-faces.jpg', 'jpg', 1126, 661, 3],
    ['partial-face.jpg', 'jpg', 491, 1137, 3],
    ['face.png', 'png', 424, 394, 4],
  ] as Array<[FixtureImage, ImageFormat, number, number, number]>)('proves %s: %s, %i×%i, %i channels of 8 bits', (name, format, width, height, channels) => {
    expect(prove(fixtureImage(name), format)).toEqual({ kind: 'proven', header: { width, height, channels, bitsPerSample: 8 }, endsAt: expect.any(Number) });
  });

  it.each([
    ['a minimal JPEG', jpeg(TABLES, jpegFrame(640, 480), jpegScan()), 'jpg', { width: 640, height: 480, channels: 3, bitsPerSample: 8 }],
    ['a grey progressive JPEG', jpeg(jpegFrame(32, 16, 1, 0xc2), jpegScan(1)), 'jpg', { width: 32, height: 16, channels: 1, bitsPerSample: 8 }],
    ['a 12-bit extended JPEG', jpeg(jpegFrame(32, 16, 3, 0xc1, 12), jpegScan()), 'jpg', { width: 32, height: 16, channels: 3, bitsPerSample: 12 }],
    ['a 16-bit grey PNG', png(pngHeader(5, 7, 16, 0), IDAT), 'png', { width: 5, height: 7, channels: 1, bitsPerSample: 16 }],
    ['a palette PNG', png(pngHeader(5, 7, 4, 3), pngChunk('PLTE', Buffer.alloc(6)), IDAT), 'png', { width: 5, height: 7, channels: 1, bitsPerSample: 4 }],
    ['an animated PNG', animatedPng(PNG), 'png', { width: 424, height: 394, channels: 4, bitsPerSample: 8 }],
    ['a lossless WebP', WEBP, 'webp', { width: 1, height: 1, channels: 4, bitsPerSample: 8 }],
    ['a lossy WebP', webp(riffChunk('VP8 ', vp8Frame(320, 240))), 'webp', { width: 320, height: 240, channels: 3, bitsPerSample: 8 }],
    ['an extended WebP with alpha and an ICC profile', webp(vp8x(320, 240, 0x30), riffChunk('ICCP', Buffer.alloc(33)), riffChunk('ALPH', Buffer.alloc(9)), riffChunk('VP8 ', vp8Frame(320, 240))), 'webp', { width: 320, height: 240, channels: 4, bitsPerSample: 8 }],
    [
      'an animated WebP',
      webp(vp8x(320, 240, 0x02), riffChunk('ANIM', Buffer.alloc(6)), riffChunk('ANMF', Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 63, 1, 0, 239, 0, 0, 100, 0, 0, 0]), riffChunk('VP8 ', vp8Frame(320, 240))]))),
      'webp',
      { width: 320, height: 240, channels: 3, bitsPerSample: 8 },
    ],
    [`a JPEG of ${MAX_IMAGE_SIDE} × 1`, jpeg(jpegFrame(MAX_IMAGE_SIDE, 1), jpegScan()), 'jpg', { width: MAX_IMAGE_SIDE, height: 1, channels: 3, bitsPerSample: 8 }],
  ] as Array<[string, Buffer, ImageFormat, object]>)('proves %s', (_, bytes, format, header) => {
    expect(prove(bytes, format)).toEqual({ kind: 'proven', header, endsAt: expect.any(Number) });
  });

  const badCrc = (chunk: Buffer) => {
    const copy = Buffer.from(chunk);
    copy[copy.length - 1] = (copy.at(-1) ?? 0) ^ 1;
    return copy;
  };

  it.each([
    // What reached Deepvue before: a signature and no image.
    ['three bytes of a JPEG signature ("/9j/")', Buffer.from('/9j/', 'base64'), 'jpg', /ends inside/],
    ['a JPEG header followed by HTML', Buffer.concat([JPEG.subarray(0, 2000), Buffer.from('<html><script>alert(1)</script></html>')]), 'jpg', /ends inside/],
    // image-size skips a JPEG's first segment unread, and loses its way on fill bytes: legal, but
    // written by no camera or browser, these are refused.
    ['a JPEG that begins with its frame header', Buffer.concat([SOI, jpegFrame(64, 64), jpegScan(), ENTROPY]), 'jpg', /dimensions cannot be read/],
    ['a JPEG with fill bytes before a marker', jpeg(Buffer.from([0xff, 0xff]), jpegFrame(64, 64), jpegScan()), 'jpg', /dimensions cannot be read/],
    ['a JPEG header and tables, then HTML', Buffer.concat([SOI, APP0, TABLES, Buffer.from('<!doctype html><html><body>hello</body></html>'.repeat(40))]), 'jpg', /not a marker/],
    ['a 16-byte RIFF/WEBP header', Buffer.from('RIFF\x24\x00\x00\x00WEBPVP8 ', 'latin1'), 'webp', /ends inside/],
    ['a JPEG cut inside its EXIF segment', JPEG.subarray(0, 1024), 'jpg', /ends inside/],
    ['a JPEG with stray bytes between segments', jpeg(Buffer.from([0x00, 0x0a]), jpegFrame(64, 64), jpegScan()), 'jpg', /not a marker/],
    ['a JPEG whose scan comes before its frame header', jpeg(jpegScan(), jpegFrame(64, 64)), 'jpg', /scan comes before/],
    ['a JPEG with two frame headers', jpeg(jpegFrame(64, 64), jpegFrame(8000, 8000), jpegScan()), 'jpg', /two frame headers/],
    ['a JPEG whose height waits for a DNL marker', jpeg(jpegFrame(64, 0), jpegScan()), 'jpg', /no size/],
    ['a JPEG of zero width', jpeg(jpegFrame(0, 64), jpegScan()), 'jpg', /no size/],
    ['a JPEG of five components', jpeg(jpegFrame(64, 64, 5), jpegScan()), 'jpg', /malformed/],
    ['a JPEG whose scan names a missing component', jpeg(jpegFrame(64, 64, 1), jpegScan(3)), 'jpg', /component the frame lacks/],
    ['a 16-bit baseline JPEG', jpeg(jpegFrame(64, 64, 3, 0xc0, 16), jpegScan()), 'jpg', /16-bit/],
    ['an arithmetic-coded JPEG', jpeg(jpegFrame(64, 64, 3, 0xc9), jpegScan()), 'jpg', /arithmetic/],
    ['a JPEG that ends before its first scan', Buffer.concat([SOI, APP0, jpegFrame(64, 64), EOI]), 'jpg', /out of place/],
    ['a JPEG whose segment runs past the file', Buffer.concat([SOI, jpegSegment(0xe1, Buffer.alloc(100)).subarray(0, 50)]), 'jpg', /ends inside/],
    ['a JPEG segment of impossible length', Buffer.concat([SOI, Buffer.from([0xff, 0xe0, 0x00, 0x01]), ENTROPY]), 'jpg', /impossible length/],
    [`a JPEG of ${MAX_IMAGE_SIDE + 1} × 1`, jpeg(jpegFrame(MAX_IMAGE_SIDE + 1, 1), jpegScan()), 'jpg', new RegExp(`${MAX_IMAGE_SIDE + 1}×1 pixels`)],
    ['a JPEG of 65535 × 65535 (4 gigapixels in 200 bytes)', jpeg(jpegFrame(65_535, 65_535), jpegScan()), 'jpg', /65535×65535 pixels/],
    [`a JPEG over ${MAX_IMAGE_PIXELS / 1e6} megapixels`, jpeg(jpegFrame(10_000, 5001), jpegScan()), 'jpg', /10000×5001 pixels/],
    ['a PNG whose image header fails its CRC', png(badCrc(pngHeader(5, 7)), IDAT), 'png', /CRC/],
    ['a PNG whose ancillary chunk fails its CRC', png(pngHeader(5, 7), badCrc(pngChunk('tEXt', Buffer.from('a\0b'))), IDAT), 'png', /CRC/],
    ['a PNG that does not begin with IHDR', png(pngChunk('tEXt', Buffer.from('a\0b')), pngHeader(5, 7), IDAT), 'png', /image header/],
    ["Apple's CgBI PNG", png(pngChunk('CgBI', Buffer.from([0x50, 0, 0x20, 6])), pngHeader(5, 7), IDAT), 'png', /image header/],
    ['a PNG with a damaged signature', Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\0', 'latin1'), pngHeader(5, 7), IDAT]), 'png', /signature/],
    ['a PNG of zero height', png(pngHeader(5, 0), IDAT), 'png', /no size/],
    ['a PNG of 8-bit palette... in colour type 2 at 4 bits', png(pngHeader(5, 7, 4, 2), IDAT), 'png', /malformed/],
    ['a PNG of colour type 5', png(pngHeader(5, 7, 8, 5), IDAT), 'png', /malformed/],
    ['a palette PNG without its palette', png(pngHeader(5, 7, 8, 3), IDAT), 'png', /palette is missing/],
    ['a grey PNG with a palette', png(pngHeader(5, 7, 8, 0), pngChunk('PLTE', Buffer.alloc(6)), IDAT), 'png', /palette is malformed/],
    ['a PNG with an unknown critical chunk', png(pngHeader(5, 7), pngChunk('XXXX', Buffer.alloc(4)), IDAT), 'png', /critical XXXX/],
    ['a PNG that ends before its image data', png(pngHeader(5, 7)), 'png', /critical IEND/],
    ['a PNG whose first IDAT runs past the file', Buffer.concat([PNG_SIGNATURE, pngHeader(5, 7), IDAT.subarray(0, 12)]), 'png', /ends inside/],
    ['a PNG with a chunk type that is not letters', png(pngHeader(5, 7), pngChunk('t3Xt', Buffer.alloc(3)), IDAT), 'png', /chunk is malformed/],
    ['a PNG of 20000 × 20000', png(pngHeader(20_000, 20_000), IDAT), 'png', /20000×20000 pixels/],
    ['a RIFF that claims more than the file', Buffer.concat([WEBP.subarray(0, 4), Buffer.from([0xff, 0, 0, 0]), WEBP.subarray(8)]), 'webp', /ends inside/],
    ['a WebP whose first chunk is not a frame', webp(riffChunk('EXIF', Buffer.alloc(8))), 'webp', /no VP8 or VP8L frame/],
    ['a lossy WebP without the start code', webp(riffChunk('VP8 ', Buffer.from(vp8Frame(320, 240)).fill(0, 3, 6))), 'webp', /start code/],
    ['a lossy WebP that is not a key frame', webp(riffChunk('VP8 ', Buffer.from(vp8Frame(320, 240)).fill(0x11, 0, 1))), 'webp', /frame tag/],
    ['a lossy WebP whose partition runs past its chunk', webp(riffChunk('VP8 ', vp8Frame(320, 240, 0).fill(0xff, 1, 3))), 'webp', /frame tag/],
    ['a lossy WebP of zero width', webp(riffChunk('VP8 ', vp8Frame(0, 240))), 'webp', /no size/],
    ['a lossless WebP without its signature', webp(riffChunk('VP8L', Buffer.alloc(5))), 'webp', /signature/],
    ['a lossless WebP of an unknown version', webp(riffChunk('VP8L', Buffer.from([0x2f, 0, 0, 0, 0x20]))), 'webp', /unknown version/],
    ['an extended WebP without a frame', webp(vp8x(320, 240), riffChunk('ICCP', Buffer.alloc(8))), 'webp', /no frame/],
    ['an extended WebP whose frame and canvas differ', webp(vp8x(320, 240), riffChunk('VP8 ', vp8Frame(16_000, 16_000))), 'webp', /frame and canvas/],
    ['an extended WebP whose chunk runs past the RIFF', webp(vp8x(320, 240), Buffer.from('VP8 \xff\x00\x00\x00', 'latin1')), 'webp', /runs past/],
  ] as Array<[string, Buffer, ImageFormat, RegExp]>)('refuses %s', (_, bytes, format, reason) => {
    const proof = prove(bytes, format);
    expect(proof).toEqual({ kind: 'refused', reason: expect.stringMatching(reason) });
  });

  it('asks for more bytes when the structure runs past the prefix it was given, and proves it from them', () => {
    const exif = jpegSegment(0xe1, Buffer.alloc(60_000));
    const bytes = jpeg(exif, exif, exif, jpegFrame(640, 480), jpegScan());
    expect(proveHeader(bytes.subarray(0, 64 * 1024), bytes.length, 'jpg')).toEqual({ kind: 'short', need: expect.any(Number) });
    let prefix = 64 * 1024;
    for (let proof = proveHeader(bytes.subarray(0, prefix), bytes.length, 'jpg'); ; proof = proveHeader(bytes.subarray(0, prefix), bytes.length, 'jpg')) {
      if (proof.kind !== 'short') {
        expect(proof).toMatchObject({ kind: 'proven', header: { width: 640, height: 480 } });
        break;
      }
      expect(proof.need).toBeGreaterThan(prefix);
      prefix = proof.need;
    }
    expect(prefix).toBeLessThan(bytes.length);
  });

  it('never needs the image data: a PNG is proven from its chunks before the first IDAT', () => {
    expect(proveHeader(PNG.subarray(0, 3625 + 8), PNG.length, 'png')).toMatchObject({ kind: 'proven' });
  });
});

describe('proveEnd: what follows the header, walked to the end without decoding', () => {
  const HTML = Buffer.from('<!doctype html><html><body onload=alert(1)>a photograph, honest</body></html>'.repeat(30));
  /** The photograph up to and including its first scan header. */
  const JPEG_TO_FIRST_SCAN = JPEG.subarray(0, 2835);
  const FIRST_IDAT = PNG.indexOf('IDAT') - 4;
  const idatLength = PNG.readUInt32BE(FIRST_IDAT);
  /** The PNG photograph up to and including its first IDAT chunk. */
  const PNG_TO_FIRST_IDAT = PNG.subarray(0, FIRST_IDAT + 12 + idatLength);
  const DHT = jpegSegment(0xc4, Buffer.alloc(29));
  const progressive = (...rest: Buffer[]) => Buffer.concat([SOI, APP0, TABLES, jpegFrame(32, 16, 1, 0xc2), jpegScan(1), ENTROPY, ...rest]);
  /** `bytes` in pieces of `size`, as the base64 path decodes them. */
  const pieces = (bytes: Buffer, size: number) => Array.from({ length: Math.ceil(bytes.length / size) }, (_, index) => bytes.subarray(index * size, (index + 1) * size));

  it('knows where the header ends: the first entropy-coded byte, the first IDAT chunk, a WebP’s end', () => {
    expect(proveHeader(JPEG, JPEG.length, 'jpg')).toMatchObject({ endsAt: JPEG_TO_FIRST_SCAN.length });
    expect(proveHeader(PNG, PNG.length, 'png')).toMatchObject({ endsAt: FIRST_IDAT });
    expect(proveHeader(WEBP, WEBP.length, 'webp')).toMatchObject({ endsAt: WEBP.length });
  });

  it.each([
    ['a JPEG with a ZIP appended after EOI (cameras append their own data there)', Buffer.concat([JPEG, Buffer.from('PK\x03\x04 payload', 'latin1')]), 'jpg'],
    ['a JPEG with a second JPEG after EOI (a phone’s depth map)', Buffer.concat([JPEG, JPEG]), 'jpg'],
    ['a JPEG whose scan holds stuffed bytes and restart markers', jpeg(jpegFrame(64, 64), jpegScan(), Buffer.from([0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56, 0xff, 0xd7])), 'jpg'],
    ['a progressive JPEG: scans with tables, comments and fill bytes between them', progressive(DHT, jpegSegment(0xfe, Buffer.from('hi')), jpegScan(1), ENTROPY, Buffer.from([0xff, 0xff]), jpegScan(1), ENTROPY, EOI), 'jpg'],
    ['a PNG whose image data is several IDAT chunks, with text after them', png(pngHeader(5, 7), IDAT, IDAT, pngChunk('tEXt', Buffer.from('a\0b'))), 'png'],
    ['an animated PNG: frames after the still image', png(pngHeader(5, 7), IDAT, pngChunk('fcTL', Buffer.alloc(26)), pngChunk('fdAT', Buffer.alloc(12))), 'png'],
    ['a WebP with a pad byte after its RIFF container', Buffer.concat([WEBP, Buffer.alloc(1)]), 'webp'],
  ] as Array<[string, Buffer, ImageFormat]>)('proves %s', (_, bytes, format) => {
    expect(prove(bytes, format)).toMatchObject({ kind: 'proven' });
  });

  it.each([
    ['the photograph up to its first scan header, then HTML', Buffer.concat([JPEG_TO_FIRST_SCAN, HTML]), 'jpg', /before its end-of-image marker/],
    ['the photograph cut inside its image data', JPEG.subarray(0, JPEG.length - 100), 'jpg', /before its end-of-image marker/],
    ['the photograph cut one byte short', JPEG.subarray(0, JPEG.length - 1), 'jpg', /before its end-of-image marker/],
    ['a JPEG with a second frame header after its first scan', jpeg(jpegFrame(64, 64), jpegScan(), jpegFrame(8000, 8000)), 'jpg', /out of place after its first scan/],
    ['a JPEG with SOI again after its first scan', jpeg(jpegFrame(64, 64), jpegScan(), SOI), 'jpg', /out of place after its first scan/],
    ['a progressive JPEG with a stuffed byte between segments', progressive(DHT, Buffer.from([0xff, 0x00]), jpegScan(1), ENTROPY, EOI), 'jpg', /outside a scan/],
    ['a progressive JPEG with bytes between segments', progressive(DHT, Buffer.from('<p>'), jpegScan(1), ENTROPY, EOI), 'jpg', /not a marker/],
    ['a progressive JPEG whose second scan header is malformed', progressive(jpegSegment(0xda, Buffer.alloc(3)), ENTROPY, EOI), 'jpg', /scan header is malformed/],
    ['a progressive JPEG whose second scan header is too long', progressive(jpegSegment(0xda, Buffer.alloc(300)), ENTROPY, EOI), 'jpg', /scan header is malformed/],
    ['a progressive JPEG whose segment has an impossible length', progressive(Buffer.from([0xff, 0xc4, 0x00, 0x01]), EOI), 'jpg', /impossible length/],
    ['a PNG up to and including its first IDAT, then HTML', Buffer.concat([PNG_TO_FIRST_IDAT, HTML]), 'png', /before its IEND chunk/],
    ['a PNG up to and including its first IDAT, then text', Buffer.concat([PNG_TO_FIRST_IDAT, Buffer.from('hello, world')]), 'png', /chunk is malformed/],
    ['the PNG photograph cut inside its image data', PNG.subarray(0, PNG_TO_FIRST_IDAT.length + 100), 'png', /before its IEND chunk/],
    ['the PNG photograph without its IEND', PNG.subarray(0, PNG.length - 12), 'png', /before its IEND chunk/],
    ['a PNG with bytes after its IEND', Buffer.concat([PNG, Buffer.from('<html>')]), 'png', /follow its IEND/],
    ['a PNG whose IDAT fails its CRC', png(pngHeader(5, 7), Buffer.from(IDAT).fill(0, 8, 16)), 'png', /CRC/],
    ['a PNG whose image data is split by another chunk', png(pngHeader(5, 7), IDAT, pngChunk('tEXt', Buffer.from('a\0b')), IDAT), 'png', /split/],
    ['a PNG with a palette after its image data', png(pngHeader(5, 7), IDAT, pngChunk('PLTE', Buffer.alloc(6))), 'png', /critical PLTE chunk after/],
    ['a PNG whose IEND holds data', Buffer.concat([PNG_SIGNATURE, pngHeader(5, 7), IDAT, pngChunk('IEND', Buffer.alloc(4))]), 'png', /IEND chunk is malformed/],
    ['a WebP whose RIFF size leaves HTML outside it', Buffer.concat([WEBP, HTML]), 'webp', /follow its RIFF container/],
  ] as Array<[string, Buffer, ImageFormat, RegExp]>)('refuses %s', (_, bytes, format, reason) => {
    expect(prove(bytes, format)).toEqual({ kind: 'refused', reason: expect.stringMatching(reason) });
  });

  it('reaches the same verdict whatever pieces the rest arrives in', () => {
    const images: Array<[Buffer, ImageFormat]> = [
      [JPEG, 'jpg'],
      [PNG, 'png'],
      [Buffer.concat([JPEG_TO_FIRST_SCAN, HTML]), 'jpg'],
      [progressive(DHT, jpegScan(1), ENTROPY, Buffer.from([0xff, 0xff, 0xff]), EOI), 'jpg'],
      [Buffer.concat([PNG, Buffer.from('x')]), 'png'],
      [PNG.subarray(0, PNG.length - 3), 'png'],
    ];
    for (const [bytes, format] of images) {
      const proof = proveHeader(bytes, bytes.length, format);
      if (proof.kind !== 'proven') throw new Error('header not proven');
      const rest = bytes.subarray(proof.endsAt);
      const whole = proveEnd(format, [rest]);
      for (const size of [1, 2, 3, 5, 12, 4096]) expect(proveEnd(format, pieces(rest, size))).toBe(whole);
    }
  });
});
