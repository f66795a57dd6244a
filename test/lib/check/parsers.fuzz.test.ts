import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCheckRequest } from '../../../lib/check/request.ts';
import { judgeUrl, prepareImageText, type ImageResult } from '../../../lib/check/image.ts';
import { fixtureImage } from '../../support/relay.ts';

/**
 * Property tests of the parsers that read untrusted input: the check request, base64 images and
 * image URLs. Runs are bounded (a few seconds in all); a failure prints the seed that replays it.
 */
const PROBLEMS = new Set(['INVALID_BASE64_STRING', 'INVALID_URL', 'UNSUPPORTED_IMAGE_FORMAT', 'PAYLOAD_TOO_LARGE']);
const MAX_BYTES = 64 * 1024;
/** The photograph's segments up to and including its first scan header (2835 bytes, a multiple of 3). */
const JPEG_HEAD = fixtureImage('face-480p.jpg').subarray(0, 2835);
const EOI = Buffer.from([0xff, 0xd9]);
/** A JPEG's header, a byte of entropy-coded data and EOI (2838 bytes, a multiple of 3): any bytes may follow. */
const JPEG_TO_EOI = Buffer.concat([JPEG_HEAD, Buffer.from([0x00]), EOI]);
const STANDARD_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL_SAFE_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Every answer is either an accepted image or one of the contract's refusals, with a message. */
function expectWellFormed(result: ImageResult): void {
  if (result.ok) return;
  expect(PROBLEMS.has(result.subCode), result.subCode).toBe(true);
  expect(result.message).not.toBe('');
}

/**
 * The host RFC 3986's appendix B regular expression splits out of `text`: the authority, less any
 * user info and port. Written apart from the relay's code, as a second reader of what it forwards
 * (Python's urlsplit, used by aiohttp and yarl, splits the same way).
 */
function rfc3986Host(text: string): string | undefined {
  const match = /^(([^:/?#]+):)?(\/\/([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?/.exec(text);
  const authority = match?.[4];
  if (authority === undefined) return undefined;
  const hostAndPort = authority.slice(authority.lastIndexOf('@') + 1);
  if (hostAndPort.startsWith('[')) return hostAndPort.slice(0, hostAndPort.indexOf(']') + 1);
  return hostAndPort.replace(/:\d*$/, '');
}

describe('readCheckRequest', () => {
  it('never throws, and accepts exactly an object whose own image is a non-blank string', () => {
    const bodies = fc.oneof(
      fc.anything({ withNullPrototype: true, withObjectString: true }),
      fc.json().map((text) => JSON.parse(text) as unknown),
      fc.record({ image: fc.oneof(fc.string(), fc.anything()) }, { requiredKeys: [] }),
    );
    fc.assert(
      fc.property(bodies, (body) => {
        const request = readCheckRequest(body);
        const image = typeof body === 'object' && body !== null && !Array.isArray(body) && Object.hasOwn(body, 'image')
          ? (body as { image: unknown }).image
          : undefined;
        expect(request.ok).toBe(typeof image === 'string' && image.trim() !== '');
        if (request.ok) expect(request.image).toBe(image);
        else expect(request.message).not.toBe('');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('base64 canonicalisation', () => {
  it('never throws on any text', async () => {
    const texts = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.string({ unit: fc.constantFrom(...'ABCabc019+/-_= \r\n\t'), maxLength: 300 }),
      fc.string({ unit: fc.constantFrom(...'/9j+AQ=-_ \n'), maxLength: 300 }).map((rest) => `/9j/${rest}`),
      fc.string({ maxLength: 200 }).map((rest) => `data:${rest}`),
    );
    await fc.assert(fc.asyncProperty(texts, async (text) => expectWellFormed(await prepareImageText(text, MAX_BYTES))), { numRuns: 1500 });
  });

  it('turns any spelling of an image’s base64 into the one canonical form, which decodes to the same bytes', async () => {
    const spelling = fc.record({
      // Entropy-coded data without markers (0xFF), then EOI.
      bytes: fc.uint8Array({ maxLength: 400 }).map((data) => Buffer.concat([JPEG_HEAD, data.map((byte) => byte & 0x7f), EOI])),
      urlSafe: fc.boolean(),
      padded: fc.boolean(),
      // Sets the unused low bits of the last digit, which decoders ignore.
      sloppyTail: fc.boolean(),
      width: fc.option(fc.integer({ min: 1, max: 100 })),
      lineBreak: fc.constantFrom('\n', '\r\n', ' ', '\t', ' \r\n '),
      prefix: fc.constantFrom('', 'data:image/jpeg;base64,', 'data:image/jpeg;name=selfie.jpg;base64,', 'DATA:;BASE64,', ' \n'),
    });
    await fc.assert(
      fc.asyncProperty(spelling, async ({ bytes, urlSafe, padded, sloppyTail, width, lineBreak, prefix }) => {
        const canonical = bytes.toString('base64');
        let digits = urlSafe ? bytes.toString('base64url') : canonical.replace(/=+$/, '');
        if (sloppyTail && bytes.length % 3 !== 0) {
          const alphabet = urlSafe ? URL_SAFE_DIGITS : STANDARD_DIGITS;
          digits = `${digits.slice(0, -1)}${alphabet.charAt(alphabet.indexOf(digits.charAt(digits.length - 1)) ^ 1)}`;
        }
        if (padded) digits = digits.padEnd(Math.ceil(digits.length / 4) * 4, '=');
        const text = `${prefix}${width === null ? digits : (digits.match(new RegExp(`.{1,${width}}`, 'g')) ?? []).join(lineBreak)}`;

        const result = await prepareImageText(text, MAX_BYTES);
        if (!result.ok || result.image.kind !== 'base64') throw new Error(`refused: ${JSON.stringify(result)}`);
        expect(result.image.value).toBe(canonical);
        expect(result.image.byteLength).toBe(bytes.length);
        expect(Buffer.from(result.image.value, 'base64').equals(bytes)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('gives canonical output that decodes like the input and canonicalises to itself', async () => {
    // A JPEG to its EOI, so the image is proven and canonicalisation runs on any tail.
    const digits = fc.string({ unit: fc.constantFrom(...STANDARD_DIGITS), maxLength: 200 });
    const head = JPEG_TO_EOI.toString('base64');
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(digits, fc.constantFrom('', '=', '=='), async (tail, padding) => {
        const text = `${head}${tail}${padding}`;
        const result = await prepareImageText(text, MAX_BYTES);
        expectWellFormed(result);
        if (!result.ok || result.image.kind !== 'base64') return;
        accepted += 1;
        expect(result.image.value).toMatch(CANONICAL_BASE64);
        expect(Buffer.from(result.image.value, 'base64').equals(Buffer.from(text, 'base64'))).toBe(true);
        expect(await prepareImageText(result.image.value, MAX_BYTES)).toEqual(result);
      }),
      { numRuns: 500 },
    );
    expect(accepted).toBeGreaterThan(100);
  });
});

describe('URL judgement', () => {
  /** Pieces that parsers disagree about: backslashes, dots, @, brackets, colons and percent-escapes. */
  const piece = fc.constantFrom(
    'a', 'images', 'example', 'com', 'xn--bcher-kva', 'bücher', 'EXAMPLE', '127', '0', '1', '169', '254', '10', 'localhost', 'internal',
    '.', '..', '@', ':', '\\', '/', '//', '[', ']', '::', 'ffff', '7f00', '::1', '::7f00:1', '2606:2800::1',
    '%2e', '%2E', '%40', '%5c', '%5C', '%2f', '%5b', '%5d', '%3a', '%25', '%00', '%20', '?', '#', '80', '443', '0x7f', 'é', '\t',
  );
  const scheme = fc.constantFrom('http', 'https', 'HTTPS', 'hTtP', 'ftp', 'javascript', 'data');
  const separator = fc.constantFrom(':', ':/', '://', ':///', ':\\', ':\\\\', '://\\', ':/\\');
  const freeForm = fc.tuple(scheme, separator, fc.array(piece, { maxLength: 20 })).map(([s, sep, parts]) => `${s}${sep}${parts.join('')}`);
  /** Closer to real URLs, so that many are accepted: a host of labels, then a path of pieces. */
  const label = fc.constantFrom('images', 'cdn', 'example', 'com', 'org', 'io', 'xn--bcher-kva', 'Bücher', 'EXAMPLE', 'a-b', '93', '184');
  const shaped = fc
    .tuple(
      fc.constantFrom('http://', 'https://', 'HTTPS://'),
      fc.oneof({ arbitrary: fc.constant(''), weight: 4 }, fc.constantFrom('user@', '@', 'a:b@', 'images.example.com\\@', 'x%40y@')),
      fc.oneof(
        fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.')),
        fc.array(label, { minLength: 2, maxLength: 4 }).chain((labels) => fc.constantFrom('.', '..', '...').map((dots) => `${labels.join('.')}${dots}`)),
        fc.constantFrom('[2606:2800:220:1:248:1893:25c8:1946]', '[::5db8:d822]', '[::ffff:5db8:d822]', '[::7f00:1]', '93.184.216.34', '0x5db8d822', '%31%32%37.0.0.1', 'localhost'),
      ),
      fc.constantFrom('', '', ':443', ':80', ':8080', ':'),
      fc.array(piece, { maxLength: 6 }),
    )
    .map(([start, user, host, port, path]) => `${start}${user}${host}${port}/${path.join('')}`);
  const urls = fc.oneof({ arbitrary: freeForm, weight: 1 }, { arbitrary: shaped, weight: 3 });

  it('never throws on any text', () => {
    fc.assert(
      fc.property(fc.oneof(urls, fc.string({ unit: 'binary', maxLength: 200 }).map((rest) => `https://${rest}`)), (text) => {
        const judged = judgeUrl(text);
        if (!judged.ok) expectWellFormed(judged);
      }),
      { numRuns: 3000 },
    );
  });

  it('forwards text in which an independent RFC 3986 split finds the very host the relay judged', () => {
    let accepted = 0;
    fc.assert(
      fc.property(urls, (text) => {
        const judged = judgeUrl(text);
        if (!judged.ok) return;
        accepted += 1;
        expect(rfc3986Host(judged.href)).toBe(judged.host);
        expect(judged.href).not.toMatch(/[\\\s]/);
        expect(judged.href.split('/')[2]).not.toContain('@');
        // The canonical form is judged the same again, and forwarded as it is.
        expect(judgeUrl(judged.href)).toEqual(judged);
      }),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(300);
  });
});
