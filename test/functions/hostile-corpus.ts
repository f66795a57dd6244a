import { Buffer } from 'node:buffer';
import { animatedPng, jpegFrame, jpegScan, pngChunk, pngHeader, PNG_SIGNATURE } from '../support/images.ts';
import type { RestRequest } from '../support/lambda.ts';
import { fixtureImage } from '../support/relay.ts';

/**
 * Hostile requests to `POST /v1/liveness-check` and what the contract says each one gets. The
 * in-process test (hostile-corpus.test.ts) and the run over HTTP against `npm start`
 * (test/local-server/) both play this table.
 */
export interface HostileCase {
  name: string;
  request: RestRequest;
  status: number;
  subCode: string;
  /**
   * Liveness checks Deepvue receives: 0 for everything the relay refuses itself. The few accepted
   * cases are odd but valid requests, listed to pin down where the relay stops judging.
   */
  upstreamChecks: 0 | 1;
  /** For a case Deepvue receives: the `image` it receives, when that differs from what was sent. */
  forwards?: string;
  /**
   * Why the case is played only as an API Gateway event and not over HTTP against `npm start`:
   * no HTTP client can send it, or serverless-offline changes it on the way.
   */
  eventOnly?: string;
}

const JSON_TYPE = { 'Content-Type': 'application/json' };
const MiB = 1024 * 1024;
const JPEG = fixtureImage('face-480p.jpg');
const PNG = fixtureImage('face.png');

const body = (text: string, headers: Record<string, string> = JSON_TYPE): RestRequest => ({ body: text, headers });
const imageBody = (image: string): RestRequest => body(JSON.stringify({ image }));
const b64 = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64');
/** `size` bytes that begin like the JPEG photograph. */
const jpegOfSize = (size: number): Buffer => {
  const bytes = Buffer.alloc(size);
  JPEG.copy(bytes, 0, 0, Math.min(size, JPEG.length));
  return bytes;
};
/** Base64 broken into lines of `width` digits by CRLF, as PEM (64) and MIME (76) write it. */
const wrap = (base64: string, width: number): string => base64.match(new RegExp(`.{1,${width}}`, 'g'))?.join('\r\n') ?? '';
/** `{"image": ...}` with every `/` written as the JSON escape `\/`. */
const escapedSlashes = (image: string): RestRequest => body(JSON.stringify({ image }).replaceAll('/', '\\/'));
/** The photograph padded with trailing bytes to exactly the default MAX_IMAGE_BYTES, and one byte more. */
const AT_LIMIT = jpegOfSize(4 * MiB);
const OVER_LIMIT = jpegOfSize(4 * MiB + 1);
const deep = (depth: number, open: string, close: string, core = ''): string => `${open.repeat(depth)}${core}${close.repeat(depth)}`;

const refused = (subCode: string, status = 422) => ({ status, subCode, upstreamChecks: 0 as const });
const invalidRequest = refused('INVALID_REQUEST');
const invalidBase64 = refused('INVALID_BASE64_STRING');
const invalidUrl = refused('INVALID_URL');
const unsupported = refused('UNSUPPORTED_IMAGE_FORMAT');
const tooLarge = refused('PAYLOAD_TOO_LARGE', 413);
const forwarded = { status: 200, subCode: 'SUCCESS', upstreamChecks: 1 as const };
const forwardedAs = (image: string) => ({ ...forwarded, forwards: image });

/** Bodies that are not a JSON object with a string `image`. */
const requestCases: HostileCase[] = [
  { name: 'truncated JSON', request: body('{"image": "abc"'), ...invalidRequest },
  { name: 'an empty body', request: body(''), ...invalidRequest },
  { name: 'JSON with trailing garbage', request: body('{"image": "QUJD"} <script>'), ...invalidRequest },
  { name: 'JSON with a comment', request: body('{"image": /* x */ "QUJD"}'), ...invalidRequest },
  { name: 'single-quoted pseudo-JSON', request: body("{'image': 'QUJD'}"), ...invalidRequest },
  { name: 'NaN', request: body('NaN'), ...invalidRequest },
  { name: 'a byte-order mark before the JSON', request: body(`\uFEFF${JSON.stringify({ image: b64(JPEG) })}`), ...invalidRequest },
  { name: 'content-type text/plain', request: body(JSON.stringify({ image: b64(JPEG) }), { 'Content-Type': 'text/plain' }), ...invalidRequest },
  {
    name: 'no content-type at all',
    request: body(JSON.stringify({ image: b64(JPEG) }), {}),
    ...invalidRequest,
    eventOnly: 'serverless-offline adds Content-Type: application/json to a request without one; API Gateway passes none',
  },
  { name: 'content-type application/xml', request: body('<image>QUJD</image>', { 'Content-Type': 'application/xml' }), ...invalidRequest },
  {
    name: 'a multipart form',
    request: body('--x\r\nContent-Disposition: form-data; name="image"\r\n\r\nQUJD\r\n--x--\r\n', { 'Content-Type': 'multipart/form-data; boundary=x' }),
    ...invalidRequest,
  },
  { name: 'a URL-encoded form', request: body('image=QUJD', { 'Content-Type': 'application/x-www-form-urlencoded' }), ...invalidRequest },
  { name: 'content-type application/jsonp', request: body('cb({"image":"QUJD"})', { 'Content-Type': 'application/jsonp' }), ...invalidRequest },
  { name: 'a +json type with a body that is not JSON', request: body('image: QUJD', { 'Content-Type': 'application/merge-patch+json' }), ...invalidRequest },
  {
    name: 'UTF-16 JSON declared as such',
    request: body(Buffer.from(JSON.stringify({ image: 'QUJD' }), 'utf16le').toString('latin1'), { 'Content-Type': 'application/json; charset=utf-16le' }),
    ...invalidRequest,
  },
  { name: 'a JSON array', request: body(JSON.stringify([{ image: b64(JPEG) }])), ...invalidRequest },
  { name: 'an empty JSON array', request: body('[]'), ...invalidRequest },
  { name: 'a JSON number', request: body('42'), ...invalidRequest },
  { name: 'a number too large for a double', request: body('1e400'), ...invalidRequest },
  { name: 'JSON null', request: body('null'), ...invalidRequest },
  { name: 'JSON true', request: body('true'), ...invalidRequest },
  { name: 'a JSON string holding a URL', request: body('"https://images.example.com/a.jpg"'), ...invalidRequest },
  { name: '100,000 nested arrays', request: body(deep(100_000, '[', ']')), ...invalidRequest },
  { name: '100,000 nested objects', request: body(deep(100_000, '{"a":', '}', '1')), ...invalidRequest },
  { name: 'an image of 100,000 nested arrays', request: body(`{"image":${deep(100_000, '[', ']')}}`), ...invalidRequest },
  { name: '200,000 keys and no image', request: body(`{${Array.from({ length: 200_000 }, (_, key) => `"k${key}":0`).join(',')}}`), ...invalidRequest },
  { name: '5 MB of padding beside a numeric image', request: body(JSON.stringify({ pad: 'x'.repeat(5_000_000), image: 1 })), ...invalidRequest },
  { name: 'a body far over the limit', request: body(JSON.stringify({ image: 'A'.repeat(8 * MiB) })), ...tooLarge },
  { name: 'a __proto__ key holding the image', request: body(`{"__proto__": {"image": "${b64(JPEG)}"}}`), ...invalidRequest },
  { name: 'a __proto__ key beside a valid image', request: body(`{"image": "${b64(JPEG)}", "__proto__": {"polluted": true}}`), ...invalidRequest },
  { name: 'a nested __proto__ key', request: body('{"image": {"__proto__": {"toString": "x"}}}'), ...invalidRequest },
  { name: 'constructor.prototype holding the image', request: body(`{"constructor": {"prototype": {"image": "${b64(JPEG)}"}}}`), ...invalidRequest },
  { name: 'a constructor key without image', request: body('{"constructor": "Object"}'), ...invalidRequest },
  { name: 'a hasOwnProperty key without image', request: body('{"hasOwnProperty": "image", "IMAGE": "QUJD"}'), ...invalidRequest },
  { name: 'a JSON number as image', request: body('{"image": 42}'), ...invalidRequest },
  { name: 'infinity as image', request: body('{"image": 1e400}'), ...invalidRequest },
  { name: 'null as image', request: body('{"image": null}'), ...invalidRequest },
  { name: 'false as image', request: body('{"image": false}'), ...invalidRequest },
  { name: 'an array of URLs as image', request: body('{"image": ["https://images.example.com/a.jpg"]}'), ...invalidRequest },
  { name: 'an object with toString as image', request: body('{"image": {"toString": "https://images.example.com/a.jpg"}}'), ...invalidRequest },
  { name: 'an empty image', request: imageBody(''), ...invalidRequest },
  { name: 'a blank image', request: imageBody(' \t\r\n '), ...invalidRequest },
  { name: 'a duplicate image key whose last value is a javascript: URL', request: body(`{"image": "${b64(JPEG)}", "image": "javascript:alert(1)"}`), ...invalidUrl },
  { name: 'a duplicate image key whose last value is a photo', request: body(`{"image": 1, "image": "${b64(JPEG)}"}`), ...forwarded },
  {
    name: 'a body API Gateway marked base64 that is not',
    request: { body: '%%% not base64 %%%', headers: JSON_TYPE, isBase64Encoded: true },
    ...invalidRequest,
    eventOnly: 'only API Gateway sets isBase64Encoded',
  },
  {
    name: 'two Idempotency-Key headers spelt differently',
    request: body(JSON.stringify({ image: b64(JPEG) }), { ...JSON_TYPE, 'Idempotency-Key': 'order-1', 'idempotency-key': 'order-2' }),
    ...invalidRequest,
  },
  { name: 'no body at all', request: { body: null, headers: JSON_TYPE }, ...invalidRequest, eventOnly: 'over HTTP a missing body is an empty one, a case of its own' },
];

const GIF = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
const ZIP_ENTRY = Buffer.concat([Buffer.from('PK\x03\x04\x14\x00\x00\x00\x00\x00', 'latin1'), Buffer.from('payload.jsp<% Runtime.exec() %>')]);
/** A JPEG with HTML in a COM segment right after SOI: a valid JPEG that a browser sniffing HTML might run. */
const JPEG_WITH_SCRIPT = Buffer.concat([
  JPEG.subarray(0, 2),
  Buffer.from([0xff, 0xfe, 0x00, 0x21]),
  Buffer.from('<script>alert(1)</script>......', 'latin1'),
  JPEG.subarray(2),
]);

/** The photograph's segments up to its frame header (SOF0 at 2590): what a JPEG header is. */
const JPEG_HEADER = JPEG.subarray(0, 2590);
/** The photograph up to and including its first scan header: the rest is entropy-coded data. */
const JPEG_TO_FIRST_SCAN = JPEG.subarray(0, 2835);
/** The PNG photograph up to and including its first IDAT chunk. */
const PNG_TO_FIRST_IDAT = PNG.subarray(0, PNG.indexOf('IDAT') + 8 + PNG.readUInt32BE(PNG.indexOf('IDAT') - 4));
const HTML_PAGE = Buffer.from('<!doctype html><html><body onload=alert(1)>a page, not a photograph</body></html>');
/** A 1 × 1 lossless WebP, whole. */
const WEBP = Buffer.from('UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==', 'base64');

/** `image` strings that are not acceptable base64 of an image. */
const base64Cases: HostileCase[] = [
  { name: 'prose', request: imageBody('please check my face'), ...invalidBase64 },
  { name: 'the string "undefined"', request: imageBody('undefined'), ...invalidBase64 },
  { name: 'the string "[object Object]"', request: imageBody('[object Object]'), ...invalidBase64 },
  { name: 'base64 with a NUL in the middle', request: imageBody(`${b64(JPEG).slice(0, 400)}\u0000${b64(JPEG).slice(400, 800)}`), ...invalidBase64 },
  { name: 'base64 with percent-encoded characters', request: imageBody(b64(JPEG).slice(0, 400).replaceAll('+', '%2B').replaceAll('/', '%2F') + '%2B'), ...invalidBase64 },
  { name: 'base64 with a Cyrillic homoglyph', request: imageBody(`${b64(JPEG).slice(0, 400)}\u0410AAA`), ...invalidBase64 },
  { name: 'base64 with an emoji', request: imageBody(`${b64(JPEG).slice(0, 400)}😀AA`), ...invalidBase64 },
  { name: 'a lone surrogate', request: body('{"image": "\\ud800QUJD"}'), ...invalidBase64 },
  { name: 'base64 with a length no bytes encode', request: imageBody(`${b64(JPEG).slice(0, 400)}A`), ...invalidBase64 },
  { name: 'base64 with three padding characters', request: imageBody(`${b64(JPEG).slice(0, 398)}===`), ...invalidBase64 },
  { name: 'only padding', request: imageBody('===='), ...invalidBase64 },
  { name: 'a data: image prefix and nothing after it', request: imageBody('data:image/jpeg;base64,'), ...invalidBase64 },
  { name: 'a data: URL of HTML, not base64', request: imageBody('data:text/html,<script>alert(1)</script>'), ...invalidBase64 },
  { name: 'a data: image URL without ;base64', request: imageBody('data:image/jpeg,notbase64'), ...invalidBase64 },
  { name: 'a data: image URL without ;base64 holding 3 MB of URL-encoded bytes', request: imageBody(`data:image/png,${'%89PNG%0D%0A%1A%0A'.repeat(200_000)}`), ...invalidBase64 },
  { name: 'a data: URL with no comma', request: imageBody(`data:image/jpeg;base64${b64(JPEG)}`), ...invalidBase64 },
  { name: 'a data: URL of base64 text', request: imageBody('data:text/plain;base64,aGVsbG8='), ...unsupported },
  { name: 'a data: image prefix before junk', request: imageBody('data:image/jpeg;base64,<img src=x onerror=alert(1)>'), ...invalidBase64 },
  { name: 'a protocol-relative URL', request: imageBody('//images.example.com/a.jpg'), ...invalidBase64 },
  { name: 'the string "null"', request: imageBody('null'), ...unsupported },
  { name: 'base64 of plain text', request: imageBody(b64('I am definitely a photograph of a face.')), ...unsupported },
  { name: 'base64 of a GIF', request: imageBody(b64(GIF)), ...unsupported },
  { name: 'base64 of an SVG with a script', request: imageBody(b64('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')), ...unsupported },
  { name: 'an SVG behind a data:image/svg+xml prefix', request: imageBody(`data:image/svg+xml;base64,${b64('<svg xmlns="http://www.w3.org/2000/svg"/>')}`), ...unsupported },
  { name: 'a GIF behind a data:image/jpeg prefix', request: imageBody(`data:image/jpeg;base64,${b64(GIF)}`), ...unsupported },
  { name: 'base64 of HTML', request: imageBody(b64('<!doctype html><html><body onload=alert(1)></body></html>')), ...unsupported },
  { name: 'base64 of a PDF', request: imageBody(b64('%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n')), ...unsupported },
  { name: 'base64 of an ELF executable', request: imageBody(b64(Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01\x00', 'latin1'), Buffer.alloc(56)]))), ...unsupported },
  { name: 'base64 of a Windows executable', request: imageBody(b64(Buffer.concat([Buffer.from('MZ\x90\x00', 'latin1'), Buffer.alloc(60)]))), ...unsupported },
  { name: 'base64 of a ZIP archive', request: imageBody(b64(ZIP_ENTRY)), ...unsupported },
  { name: 'a GIF/JAR polyglot (GIFAR)', request: imageBody(b64(Buffer.concat([GIF, ZIP_ENTRY]))), ...unsupported },
  { name: 'a PDF carrying a JPEG', request: imageBody(b64(Buffer.concat([Buffer.from('%PDF-1.4\n%\xE2\xE3\xCF\xD3\n', 'latin1'), JPEG]))), ...unsupported },
  { name: 'HTML followed by a PNG', request: imageBody(b64(Buffer.concat([Buffer.from('<html><script>alert(1)</script>'), PNG]))), ...unsupported },
  { name: 'a BMP', request: imageBody(b64(Buffer.concat([Buffer.from('BM', 'latin1'), Buffer.alloc(60)]))), ...unsupported },
  { name: 'a HEIC header (an iPhone photo)', request: imageBody(b64(Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic\x00\x00\x00\x00mif1heic', 'latin1'), Buffer.alloc(40)]))), ...unsupported },
  { name: 'a JPEG cut inside its signature', request: imageBody(b64(JPEG.subarray(0, 2))), ...unsupported },
  { name: 'a PNG cut inside its signature', request: imageBody(b64(PNG.subarray(0, 5))), ...unsupported },
  { name: '4 KiB of zeros', request: imageBody(b64(Buffer.alloc(4096))), ...unsupported },
  { name: 'an image one byte over MAX_IMAGE_BYTES', request: imageBody(b64(jpegOfSize(4 * MiB + 1))), ...tooLarge },
  { name: 'an over-limit image behind a data: prefix, URL-safe and unpadded', request: imageBody(`data:image/jpeg;base64,${Buffer.from(jpegOfSize(4 * MiB + 2)).toString('base64url')}`), ...tooLarge },
  // A signature is not an image: the structure up to the first frame must be whole, with a size in limits.
  { name: 'three bytes of a JPEG signature ("/9j/")', request: imageBody('/9j/'), ...unsupported },
  { name: 'a JPEG header followed by HTML', request: imageBody(b64(Buffer.concat([JPEG_HEADER, Buffer.from('<!doctype html><html><body onload=alert(1)></body></html>')]))), ...unsupported },
  { name: 'a 16-byte RIFF/WEBP header', request: imageBody(b64(Buffer.from('RIFF\x24\x00\x00\x00WEBPVP8 ', 'latin1'))), ...unsupported },
  { name: 'a JPEG cut after its first kilobyte, inside its EXIF segment', request: imageBody(b64(JPEG.subarray(0, 1024))), ...unsupported },
  { name: 'a JPEG whose frame header declares no height', request: imageBody(b64(Buffer.concat([JPEG_HEADER, jpegFrame(853, 0), jpegScan(), Buffer.alloc(64)]))), ...unsupported },
  { name: 'a JPEG declaring 65535×65535 pixels in 3 KB', request: imageBody(b64(Buffer.concat([JPEG_HEADER, jpegFrame(65_535, 65_535), jpegScan(), Buffer.alloc(64)]))), ...unsupported },
  { name: 'a PNG whose image header fails its CRC', request: imageBody(b64(Buffer.concat([PNG.subarray(0, 29), Buffer.from('JUNK'), PNG.subarray(33)]))), ...unsupported },
  { name: 'a PNG signature and header, then HTML', request: imageBody(b64(Buffer.concat([PNG_SIGNATURE, pngHeader(424, 394), Buffer.from('<html><script>alert(1)</script></html>')]))), ...unsupported },
  { name: 'a PNG that ends before its image data', request: imageBody(b64(Buffer.concat([PNG_SIGNATURE, pngHeader(424, 394), pngChunk('IEND', Buffer.alloc(0))]))), ...unsupported },
  // Past the header, the structure must run to the image's end: a JPEG's markers to EOI, a PNG's chunks to IEND, a WebP's RIFF size (docs/images.md).
  { name: 'a JPEG cut after its first scan header', request: imageBody(b64(Buffer.concat([JPEG_TO_FIRST_SCAN, Buffer.alloc(1)]))), ...unsupported },
  { name: 'a JPEG up to its first scan header, then HTML', request: imageBody(b64(Buffer.concat([JPEG_TO_FIRST_SCAN, HTML_PAGE]))), ...unsupported },
  { name: 'a JPEG cut inside its image data (a truncated photo)', request: imageBody(b64(JPEG.subarray(0, JPEG.length - 500))), ...unsupported },
  { name: 'a PNG up to its first IDAT chunk, then HTML', request: imageBody(b64(Buffer.concat([PNG_TO_FIRST_IDAT, HTML_PAGE]))), ...unsupported },
  { name: 'a PNG with HTML after its IEND chunk', request: imageBody(b64(Buffer.concat([PNG, HTML_PAGE]))), ...unsupported },
  { name: 'a WebP whose RIFF size lies, HTML after its container', request: imageBody(b64(Buffer.concat([WEBP, HTML_PAGE]))), ...unsupported },
  // A JPEG ends at EOI: what follows is not read (cameras and phones append their own data there).
  { name: 'a JPEG with a ZIP appended (JPEG/ZIP polyglot)', request: imageBody(b64(Buffer.concat([JPEG, ZIP_ENTRY]))), ...forwarded },
  { name: 'a JPEG with a script in a comment segment', request: imageBody(b64(JPEG_WITH_SCRIPT)), ...forwarded },
  // RFC 2397 parameters, any declared type: the decoded bytes decide the format.
  { name: 'a data: URL with a name parameter', request: imageBody(`data:image/jpeg;name=selfie.jpg;base64,${b64(JPEG)}`), ...forwardedAs(b64(JPEG)) },
  { name: 'a data: URL with a quoted parameter and blanks', request: imageBody(`data:image/png; name="a b.png" ; base64,${b64(PNG)}`), ...forwardedAs(b64(PNG)) },
  { name: 'a data: URL in capitals', request: imageBody(`DATA:IMAGE/JPEG;BASE64,${b64(JPEG)}`), ...forwardedAs(b64(JPEG)) },
  { name: 'a data: URL declaring application/octet-stream', request: imageBody(`data:application/octet-stream;base64,${b64(JPEG)}`), ...forwardedAs(b64(JPEG)) },
  { name: 'a data: URL without a media type', request: imageBody(`data:;base64,${b64(PNG)}`), ...forwardedAs(b64(PNG)) },
  { name: 'an animated PNG (acTL chunk)', request: imageBody(b64(animatedPng(PNG))), ...forwardedAs(b64(animatedPng(PNG))) },
  // Whitespace and JSON escapes never count against MAX_IMAGE_BYTES: only the decoded bytes do.
  { name: 'a JPEG of exactly MAX_IMAGE_BYTES wrapped at 64 with CRLF (PEM)', request: imageBody(wrap(b64(AT_LIMIT), 64)), ...forwardedAs(b64(AT_LIMIT)) },
  { name: 'a JPEG of exactly MAX_IMAGE_BYTES wrapped at 76 with CRLF (MIME, PHP chunk_split)', request: imageBody(`${wrap(b64(AT_LIMIT), 76)}\r\n`), ...forwardedAs(b64(AT_LIMIT)) },
  { name: 'a JPEG of exactly MAX_IMAGE_BYTES with every / escaped as \\/', request: escapedSlashes(b64(AT_LIMIT)), ...forwardedAs(b64(AT_LIMIT)) },
  { name: 'a JPEG of exactly MAX_IMAGE_BYTES in PEM with every / escaped', request: escapedSlashes(wrap(b64(AT_LIMIT), 64)), ...forwardedAs(b64(AT_LIMIT)) },
  { name: 'a JPEG of exactly MAX_IMAGE_BYTES in PEM, URL-safe, unpadded, behind a data: prefix', request: imageBody(`data:image/jpeg;base64,${wrap(AT_LIMIT.toString('base64url'), 64)}`), ...forwardedAs(b64(AT_LIMIT)) },
  { name: 'a JPEG one byte over MAX_IMAGE_BYTES wrapped at 64 (PEM)', request: imageBody(wrap(b64(OVER_LIMIT), 64)), ...tooLarge },
  { name: 'a JPEG one byte over MAX_IMAGE_BYTES wrapped at 76 (MIME)', request: imageBody(`${wrap(b64(OVER_LIMIT), 76)}\r\n`), ...tooLarge },
  { name: 'a JPEG one byte over MAX_IMAGE_BYTES with every / escaped', request: escapedSlashes(b64(OVER_LIMIT)), ...tooLarge },
];

/** `image` URLs the relay must not hand Deepvue. */
const urlCases: HostileCase[] = [
  ...[
    'ftp://images.example.com/a.jpg',
    'file:///etc/passwd',
    'gopher://images.example.com:70/_GET%20/',
    'javascript:alert(document.cookie)',
    'ws://images.example.com/socket',
    'ldap://images.example.com/o=x',
    'dict://images.example.com:11211/stat',
    'https://user:password@images.example.com/a.jpg',
    'https://images.example.com@169.254.169.254/latest/meta-data/',
    'http://2130706433/a.jpg',
    'http://0177.0.0.1/a.jpg',
    'http://0x7f.1/a.jpg',
    'http://017700000001/a.jpg',
    'http://0x7f.0x0.0x0.0x1/a.jpg',
    'http://127.0.0.1./a.jpg',
    'http://0/a.jpg',
    'http://2852039166/latest/meta-data/',
    'http://0xA9FEA9FE/latest/meta-data/',
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://100.100.100.200/latest/meta-data/',
    'http://192.0.0.192/',
    'http://255.255.255.255/a.jpg',
    'http://224.0.0.1/a.jpg',
    'http://[::ffff:127.0.0.1]/a.jpg',
    'http://[::ffff:7f00:1]/a.jpg',
    'http://[0:0:0:0:0:ffff:a9fe:a9fe]/latest/meta-data/',
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://[::1]:8080/a.jpg',
    'http://[2002:7f00:1::]/a.jpg',
    'http://[64:ff9b::7f00:1]/a.jpg',
    'http://[fe80::1%25eth0]/a.jpg',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://metadata/computeMetadata/v1/',
    'http://instance-data/latest/meta-data/',
    'http://instance-data.ec2.internal/latest/meta-data/',
    'http://localhost/a.jpg',
    'http://localhost./a.jpg',
    'http://LOCALHOST/a.jpg',
    'http://foo.localhost/a.jpg',
    'http://localhost.localdomain/a.jpg',
    'http://printer.local/a.jpg',
    'http://router.home.arpa/a.jpg',
    'http://%6c%6f%63%61%6c%68%6f%73%74/a.jpg',
    'http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/a.jpg',
    'http://１２７.０.０.１/a.jpg',
    'https:\\\\127.0.0.1\\a.jpg',
    // A backslash: WHATWG reads it as /, Python's urlsplit (aiohttp, yarl) as part of the host.
    'https://images.example.com\\@127.0.0.1/a.jpg',
    'https://images.example.com\\@169.254.169.254/latest/meta-data/',
    'http://images.example.com:80\\@127.0.0.1:8080/a.jpg',
    'https://images.example.com/selfies\\42.jpg',
    'https://images.example.com%5C@127.0.0.1/a.jpg',
    // A scheme not followed by //, or // followed by no host: read one way by WHATWG, another by RFC 3986.
    'https:images.example.com/a.jpg',
    'https:/images.example.com/a.jpg',
    'https:///images.example.com/a.jpg',
    'https://@images.example.com/a.jpg',
    // IPv4-compatible IPv6 is judged by its IPv4 address, as IPv4-mapped already is.
    'http://[::7f00:1]/',
    'http://[::127.0.0.1]/',
    'http://[::169.254.169.254]/',
    'http://[0:0:0:0:0:0:a9fe:a9fe]/latest/meta-data/',
    'http://[::10.0.0.1]/a.jpg',
    'http://[::ffff:0:7f00:1]/a.jpg',
    // Translation and tunnel prefixes are refused whatever IPv4 address they embed.
    'http://[64:ff9b::5db8:d822]/a.jpg',
    'http://[64:ff9b:1::7f00:1]/a.jpg',
    'http://[2002:5db8:d822::1]/a.jpg',
    'http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/a.jpg',
    // Trailing dots: WHATWG keeps \`127.0.0.1..\` as a name, which a resolver may still read as the address.
    'http://localhost../',
    'http://127.0.0.1../',
    'http://169.254.169.254../latest/meta-data/',
    'http://metadata.google.internal../',
    'http://localhost.../a.jpg',
    'http://127.0.0.1......./a.jpg',
    'http://images..example.com/a.jpg',
    'http://.images.example.com/a.jpg',
    'http://images.example.com:99999/a.jpg',
    ' http://127.0.0.1/a.jpg',
    'https://images.example.com/a.jpg\r\nX-Injected: 1',
    `https://images.example.com/${'a'.repeat(2048)}.jpg`,
    `https://images.example.com/a.jpg?${'q=1&'.repeat(600)}`,
  ].map((url): HostileCase => ({ name: url.length > 100 ? `${url.slice(0, 60)}… (${url.length} characters)` : url, request: imageBody(url), ...invalidUrl })),
  // Odd but acceptable URLs are forwarded in the canonical form the relay judged, never as written.
  ...[
    ['HTTPS://Images.Example.COM:443/Selfie.JPG', 'https://images.example.com/Selfie.JPG'],
    ['https://images.example.com./a.jpg', 'https://images.example.com./a.jpg'],
    ['https://bücher.example/selfie.jpg', 'https://xn--bcher-kva.example/selfie.jpg'],
    ['https://images.example.com/a/../b/./ä.jpg?q=ä#f', 'https://images.example.com/b/%C3%A4.jpg?q=%C3%A4#f'],
    ['http://0x5d.0xb8.0xd8.0x22/a.jpg', 'http://93.184.216.34/a.jpg'],
    ['http://[::5db8:d822]/a.jpg', 'http://[::5db8:d822]/a.jpg'],
  ].map(([url = '', canonical = '']): HostileCase => ({ name: `${url} → ${canonical}`, request: imageBody(url), ...forwardedAs(canonical) })),
];

export const HOSTILE_CASES: readonly HostileCase[] = [...requestCases, ...base64Cases, ...urlCases];

/** 64 characters from the middle of a large base64 image a case sends: logs must never hold them. */
export function base64Probe(testCase: HostileCase): string | undefined {
  const text = testCase.request.body;
  if (text === null || text.length < 4096 || testCase.request.isBase64Encoded === true) return undefined;
  const middle = text.slice(text.length / 2, text.length / 2 + 64);
  return /^[A-Za-z0-9+/_-]{64}$/.test(middle) ? middle : undefined;
}
