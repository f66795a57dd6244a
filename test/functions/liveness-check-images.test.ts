import { beforeAll, describe, expect, it } from 'vitest';
import { expectRelayAnswer, expectUpstreamAnswer, fixtureImage, useRelay } from '../support/relay.ts';

// Three photographs whose sizes leave 0, 1 and 2 bytes over a multiple of 3: no padding, "==", "=".
const JPEG = fixtureImage('face-480p.jpg');
const PNG = fixtureImage('face.png');
const SELFIE = fixtureImage('live-selfie-exif-rotated.jpg');

const urlSafe = (base64: string) => base64.replaceAll('+', '-').replaceAll('/', '_');
const unpadded = (base64: string) => base64.replace(/=+$/, '');
const wrapped = (base64: string, width: number, newline: string) => base64.match(new RegExp(`.{1,${width}}`, 'g'))?.join(newline) ?? '';

const relay = useRelay();

/** The `image` Deepvue received in the only check call of the test. */
function forwardedImage(): unknown {
  const checks = relay.deepvue.calls('/v1/liveness-check');
  expect(checks).toHaveLength(1);
  return checks[0]?.body.image;
}

describe('base64 images are forwarded as canonical standard base64 with padding', () => {
  it('checks the test photographs cover every padding length', () => {
    expect([JPEG.length % 3, PNG.length % 3, SELFIE.length % 3].sort()).toEqual([0, 1, 2]);
  });

  it.each([
    ['standard', (b64: string) => b64],
    ['URL-safe', urlSafe],
    ['unpadded', unpadded],
    ['URL-safe and unpadded', (b64: string) => unpadded(urlSafe(b64))],
    ['MIME-wrapped at 76 with CRLF', (b64: string) => wrapped(b64, 76, '\r\n')],
    ['wrapped with spaces, tabs and surrounding blanks', (b64: string) => `\n  ${wrapped(b64, 64, ' \t')}  \n`],
    ['prefixed with a data: URL header', (b64: string) => `data:image/jpeg;base64,${b64}`],
    ['data: prefix, URL-safe, unpadded and wrapped', (b64: string) => `data:image/png;base64,${wrapped(unpadded(urlSafe(b64)), 60, '\n')}`],
  ])('%s', async (_, variant) => {
    for (const photo of [JPEG, PNG, SELFIE]) {
      relay.deepvue.clearCalls();
      const answer = await relay.post(variant(photo.toString('base64')));
      expectUpstreamAnswer(answer, 200, 'SUCCESS');
      expect(forwardedImage()).toBe(photo.toString('base64'));
    }
  });
});

describe('images the relay rejects without calling Deepvue', () => {
  it.each([
    ['characters outside both alphabets', 'this is not base64!'],
    ['a lone symbol', '####'],
    ['a length that no bytes encode', 'QUJDR'],
    ['padding where none fits', 'QUJD='],
    ['three padding characters', 'QQ==='],
    ['only padding', '===='],
    ['both alphabets mixed', `${JPEG.toString('base64').slice(0, 400)}-_`],
    ['padding in the middle', `QQ==${JPEG.toString('base64').slice(0, 400)}`],
  ])('%s → 422 INVALID_BASE64_STRING', async (_, image) => {
    expectRelayAnswer(await relay.post(image), 422, 'INVALID_BASE64_STRING');
    expect(relay.upstreamCalls()).toBe(0);
  });

  it.each([
    ['text', Buffer.from('Hello, this is a plain text file and not a photograph at all.')],
    ['a GIF', Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64')],
    ['a PDF', Buffer.from('%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n')],
    ['a truncated JPEG marker', Buffer.from([0xff, 0xd8])],
  ])('decoding to %s → 422 UNSUPPORTED_IMAGE_FORMAT', async (_, bytes) => {
    expectRelayAnswer(await relay.post(bytes.toString('base64')), 422, 'UNSUPPORTED_IMAGE_FORMAT');
    expect(relay.upstreamCalls()).toBe(0);
  });

  it.each([
    'ftp://images.example.com/selfie.jpg',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'https://user:password@images.example.com/selfie.jpg',
    'https://user@images.example.com/selfie.jpg',
    'http://localhost/selfie.jpg',
    'http://LOCALHOST:8080/selfie.jpg',
    'http://localhost./selfie.jpg',
    'http://images.localhost/selfie.jpg',
    'http://metadata.google.internal/computeMetadata/v1/',
    'https://intranet/selfie.jpg',
    'http://127.0.0.1/selfie.jpg',
    'http://127.1/selfie.jpg',
    'http://2130706433/selfie.jpg',
    'http://0x7f000001/selfie.jpg',
    'http://0.0.0.0/selfie.jpg',
    'http://10.0.0.8/selfie.jpg',
    'http://172.16.5.4/selfie.jpg',
    'http://192.168.1.20/selfie.jpg',
    'http://100.64.0.1/selfie.jpg',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]/selfie.jpg',
    'http://[::]/selfie.jpg',
    'http://[::ffff:127.0.0.1]/selfie.jpg',
    'http://[::ffff:169.254.169.254]/latest/meta-data/',
    'http://[fe80::1]/selfie.jpg',
    'http://[fd12:3456::1]/selfie.jpg',
    'https://images.example.com/a selfie.jpg',
    `https://images.example.com/${'a'.repeat(2100)}.jpg`,
  ])('%s → 422 INVALID_URL', async (image) => {
    expectRelayAnswer(await relay.post(image), 422, 'INVALID_URL');
    expect(relay.upstreamCalls()).toBe(0);
  });

  it.each([
    'https://images.example.com/selfies/42.jpg?size=large&sig=a%2Fb#face',
    'http://cdn.example.org/photo.png',
    'https://93.184.216.34/selfie.jpg',
    'https://[2606:2800:220:1:248:1893:25c8:1946]/selfie.jpg',
  ])('forwards %s, already canonical, unchanged', async (image) => {
    expectUpstreamAnswer(await relay.post(image), 200, 'SUCCESS');
    expect(forwardedImage()).toBe(image);
  });

  it.each([
    ['HTTPS://Images.Example.COM/Selfie.JPG', 'https://images.example.com/Selfie.JPG'],
    ['https://images.example.com:443/a.jpg', 'https://images.example.com/a.jpg'],
    ['http://images.example.com:80/a.jpg', 'http://images.example.com/a.jpg'],
    ['https://images.example.com', 'https://images.example.com/'],
    ['https://[2606:2800:0220:0001:0248:1893:25C8:1946]/a.jpg', 'https://[2606:2800:220:1:248:1893:25c8:1946]/a.jpg'],
    ['http://1572395042/a.jpg', 'http://93.184.216.34/a.jpg'],
    ['https://images.example.com/a b|c.jpg'.replace(' ', '%20'), 'https://images.example.com/a%20b|c.jpg'],
    ['https://images.example.com/"quoted"<tag>.jpg', 'https://images.example.com/%22quoted%22%3Ctag%3E.jpg'],
    ['https://ÉXAMPLE.com/selfie.jpg', 'https://xn--xample-9ua.com/selfie.jpg'],
  ])('forwards %s as the canonical %s it judged', async (image, canonical) => {
    expectUpstreamAnswer(await relay.post(image), 200, 'SUCCESS');
    expect(forwardedImage()).toBe(canonical);
  });
});

describe('size limits', () => {
  beforeAll(() => relay.restart({ MAX_IMAGE_BYTES: '100000' }));

  it('checks the photographs straddle the limit', () => {
    expect(SELFIE.length).toBeLessThanOrEqual(100_000);
    expect(JPEG.length).toBeGreaterThan(100_000);
  });

  it('forwards an image within MAX_IMAGE_BYTES', async () => {
    expectUpstreamAnswer(await relay.post(SELFIE.toString('base64')), 200, 'SUCCESS');
  });

  it.each([
    ['standard', (b64: string) => b64],
    ['URL-safe, unpadded and wrapped', (b64: string) => wrapped(unpadded(urlSafe(b64)), 76, '\n')],
  ])('answers 413 PAYLOAD_TOO_LARGE to a %s image over MAX_IMAGE_BYTES', async (_, variant) => {
    expectRelayAnswer(await relay.post(variant(JPEG.toString('base64'))), 413, 'PAYLOAD_TOO_LARGE');
    expect(relay.upstreamCalls()).toBe(0);
  });

  it('answers 413 PAYLOAD_TOO_LARGE to a body too large to hold an acceptable image, before parsing it', async () => {
    const answer = await relay.invoke({ body: `{"image": "${'A'.repeat(1_000_000)}` });
    expectRelayAnswer(answer, 413, 'PAYLOAD_TOO_LARGE');
    expect(answer.body).toMatchObject({ message: expect.stringContaining('request body exceeds') });
    expect(relay.upstreamCalls()).toBe(0);
  });

  it('never counts JSON escapes or whitespace: an image of exactly MAX_IMAGE_BYTES with every digit escaped is forwarded', async () => {
    const atLimit = Buffer.alloc(100_000);
    SELFIE.copy(atLimit);
    const everyDigit = (bytes: Buffer, written: (digit: string) => string) => `{"image": "${[...bytes.toString('base64')].map(written).join('')}"}`;
    const unicodeEscape = (digit: string) => `\\u${digit.charCodeAt(0).toString(16).padStart(4, '0')}`;
    for (const written of [unicodeEscape, (digit: string) => `${digit}\\r\\n`, (digit: string) => `${digit} \\t`]) {
      relay.deepvue.clearCalls();
      expectUpstreamAnswer(await relay.invoke({ body: everyDigit(atLimit, written) }), 200, 'SUCCESS');
      expect(forwardedImage()).toBe(atLimit.toString('base64'));
    }
    relay.deepvue.clearCalls();
    const answer = await relay.invoke({ body: everyDigit(Buffer.concat([atLimit, Buffer.alloc(1)]), unicodeEscape) });
    expectRelayAnswer(answer, 413, 'PAYLOAD_TOO_LARGE');
    expect(answer.body).toMatchObject({ message: 'image is 100001 bytes; the largest accepted is 100000 bytes' });
    expect(relay.upstreamCalls()).toBe(0);
  });

  it('accepts 4 MiB and refuses one byte more by default', async () => {
    await relay.restart({ MAX_IMAGE_BYTES: undefined });
    const atLimit = Buffer.alloc(4 * 1024 * 1024);
    JPEG.copy(atLimit);
    expectUpstreamAnswer(await relay.post(atLimit.toString('base64')), 200, 'SUCCESS');
    expect(forwardedImage()).toBe(atLimit.toString('base64'));
    relay.deepvue.clearCalls();
    const overLimit = Buffer.concat([atLimit, Buffer.alloc(1)]);
    expectRelayAnswer(await relay.post(overLimit.toString('base64')), 413, 'PAYLOAD_TOO_LARGE');
    expect(relay.upstreamCalls()).toBe(0);
  });
});
