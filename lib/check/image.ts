import { Buffer } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';
import { fileTypeFromBuffer } from 'file-type';
import ipaddr from 'ipaddr.js';
import { proveEnd, proveHeader, proveImage, type HeaderProof, type ImageFormat, type ImageHeader } from './header.ts';

export type { ImageFormat, ImageHeader } from './header.ts';

/**
 * What is sent upstream as `image`: a URL in the canonical form the relay judged, or canonical
 * standard base64 of image bytes whose header was proven, with their SHA-256 (computed where they
 * are decoded).
 */
export type PreparedImage =
  | { kind: 'url'; value: string }
  | {
    kind: 'base64';
    value: string;
    format: ImageFormat;
    byteLength: number;
    /** SHA-256 of the decoded image bytes, lowercase hex: what a result says was checked. */
    sha256: string;
    /** What the image's header proved: its size, channels and bit depth. */
    header: ImageHeader;
  };

export type Base64Image = Extract<PreparedImage, { kind: 'base64' }>;

export type ImageProblemCode = 'INVALID_BASE64_STRING' | 'INVALID_URL' | 'UNSUPPORTED_IMAGE_FORMAT' | 'PAYLOAD_TOO_LARGE';

export type ImageProblem = { ok: false; subCode: ImageProblemCode; message: string };

export type ImageResult = { ok: true; image: PreparedImage } | ImageProblem;

/** file-type's names for the accepted formats: an animated PNG (`acTL` chunk) is a PNG. */
const ACCEPTED_FORMATS: ReadonlyMap<string, ImageFormat> = new Map([['jpg', 'jpg'], ['png', 'png'], ['apng', 'png'], ['webp', 'webp']]);
export const MAX_URL_LENGTH = 2048;
/** file-type recognises JPEG, PNG and WebP from their first bytes. */
export const SNIFF_BYTES = 4100;
/**
 * How much of a base64 image is decoded first to prove its header: a photo's segments before its
 * first frame (EXIF with its thumbnail, ICC profile, tables) fit; a header that runs on is
 * decoded further, so the image is still never held as bytes and text at once.
 */
const HEADER_BYTES = 64 * 1024;
const FORMAT_NAMES: Record<ImageFormat, string> = { jpg: 'JPEG', png: 'PNG', webp: 'WebP' };

/**
 * Top-level names that never reach a public server (RFC 6761, common private zones, and `arpa`,
 * which holds RFC 8375's home.arpa and reverse-lookup names but no web servers).
 */
const PRIVATE_TLDS = new Set(['localhost', 'local', 'internal', 'localdomain', 'lan', 'intranet', 'corp', 'home', 'arpa', 'test', 'invalid']);
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;
const DATA_SCHEME = /^data:/i;
/** RFC 3986, appendix B: the split every URL parser agrees on, given a URL without backslashes. */
const URI_PARTS = /^(?:([^:/?#]+):)?(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/s;
const BASE64_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

const problem = (subCode: ImageProblemCode, message: string): ImageProblem => ({ ok: false, subCode, message });

/**
 * Validates the `image` of a check request: an http(s) URL naming a public host, or base64 of a
 * JPEG, PNG or WebP image no larger than `maxBytes`.
 *
 * @example
 * const result = await prepareImageText(body.image, 4 * 1024 * 1024);
 * if (!result.ok) return relayEnvelope(result.subCode, result.message);
 */
export async function prepareImageText(text: string, maxBytes: number): Promise<ImageResult> {
  const trimmed = text.trim();
  if (DATA_SCHEME.test(trimmed)) {
    const data = dataUrlDigits(trimmed);
    return typeof data === 'string' ? canonicalBase64(data, maxBytes) : data;
  }
  if (SCHEME.test(trimmed)) {
    const judged = judgeUrl(text);
    return judged.ok ? { ok: true, image: { kind: 'url', value: judged.href } } : judged;
  }
  return canonicalBase64(trimmed, maxBytes);
}

/**
 * The base64 digits of an RFC 2397 `data:` URL: `data:[<media type>][;<parameter>...];base64,<digits>`.
 * The declared media type and parameters (`name=selfie.jpg`, `charset=...`) are not trusted either
 * way: the decoded bytes decide the format, as they do for an uploaded object.
 */
function dataUrlDigits(text: string): string | ImageProblem {
  const comma = text.indexOf(',');
  const parameters = comma < 0 ? [] : text.slice('data:'.length, comma).split(';');
  if (comma < 0 || parameters.at(-1)?.trim().toLowerCase() !== 'base64') {
    return problem('INVALID_BASE64_STRING', 'a data: URL must carry the image as base64: data:image/jpeg;base64,<digits>');
  }
  return text.slice(comma + 1);
}

/** Validates image bytes read from elsewhere (an S3 object) and encodes them once. */
export async function prepareImageBytes(bytes: Uint8Array, maxBytes: number): Promise<ImageResult> {
  if (bytes.byteLength > maxBytes) return imageTooLarge(bytes.byteLength, maxBytes);
  const format = await sniffFormat(bytes.subarray(0, SNIFF_BYTES));
  if (format === undefined) return unsupportedImage();
  const proof = proveImage(bytes, format);
  if (proof.kind !== 'proven') return unusable(format, proof);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sha256 = createHash('sha256').update(buffer).digest('hex');
  const value = buffer.toString('base64');
  return { ok: true, image: { kind: 'base64', value, format, byteLength: bytes.byteLength, sha256, header: proof.header } };
}

/** Recognises an accepted image format from the first bytes of a file. */
export async function sniffFormat(head: Uint8Array): Promise<ImageFormat | undefined> {
  const type = await fileTypeFromBuffer(head);
  return type === undefined ? undefined : ACCEPTED_FORMATS.get(type.ext);
}

/** The answers to an image too large or of another format, also given before an S3 object is read whole. */
export const imageTooLarge = (byteLength: number, maxBytes: number): ImageProblem =>
  problem('PAYLOAD_TOO_LARGE', `image is ${byteLength} bytes; the largest accepted is ${maxBytes} bytes`);
export const unsupportedImage = (): ImageProblem => problem('UNSUPPORTED_IMAGE_FORMAT', 'image must be a JPEG, PNG or WebP file');
/** A file that begins like an accepted format but whose structure does not prove it (a refusal, or a header cut short). */
const unusable = (format: ImageFormat, proof: Exclude<HeaderProof, { kind: 'proven' }>): ImageProblem =>
  problem('UNSUPPORTED_IMAGE_FORMAT', `image is not a usable ${FORMAT_NAMES[format]}: ${proof.kind === 'refused' ? proof.reason : 'it ends inside its header'}`);

/**
 * Brings base64 in either alphabet, with or without padding and whitespace, to standard padded
 * form by rewriting the text. The bytes are decoded a chunk at a time, to check every digit and
 * hash them; the first 64 KiB are decoded again, to recognise the format and prove its header,
 * and the rest a chunk at a time, to prove the structure runs to its end (a second pass over
 * the digits, a fraction of a millisecond for 4 MiB), so a 4 MiB image is never held as bytes
 * and text at once. Written by hand because
 * Buffer's decoder silently skips characters outside the alphabet, which would forward junk as an
 * image.
 */
async function canonicalBase64(text: string, maxBytes: number): Promise<ImageResult> {
  let digits = /\s/.test(text) ? text.replace(/\s+/g, '') : text;
  const padded = digits;
  let padding = 0;
  while (digits.endsWith('=', digits.length - padding)) padding += 1;
  if (padding > 0) digits = digits.slice(0, -padding);
  const byteLength = Math.floor((digits.length * 3) / 4);
  const hash = byteLength <= maxBytes ? createHash('sha256') : undefined;
  const alphabet = scanBase64(digits, hash);
  if (digits === '' || alphabet === undefined) {
    return problem('INVALID_BASE64_STRING', 'image is neither an http(s) URL nor valid base64');
  }
  const remainder = digits.length % 4;
  if (remainder === 1 || padding > 2 || (padding > 0 && (digits.length + padding) % 4 !== 0)) {
    return problem('INVALID_BASE64_STRING', 'image is base64 of the wrong length');
  }
  if (hash === undefined) return imageTooLarge(byteLength, maxBytes);

  const head = decodedPrefix(digits, Math.min(byteLength, HEADER_BYTES));
  const format = await sniffFormat(head.subarray(0, SNIFF_BYTES));
  if (format === undefined) return unsupportedImage();
  const proof = proveBase64Header(digits, byteLength, format, head);
  if (proof.kind !== 'proven') return unusable(format, proof);
  const refused = proveEnd(format, decodedChunks(digits, proof.endsAt));
  if (refused !== undefined) return unusable(format, { kind: 'refused', reason: refused });

  if (alphabet === 'url-safe') digits = digits.replaceAll('-', '+').replaceAll('_', '/');
  const value = remainder === 0 ? digits : withCanonicalTail(digits, remainder, alphabet === 'standard' ? padded : undefined);
  return { ok: true, image: { kind: 'base64', value, format, byteLength, sha256: hash.digest('hex'), header: proof.header } };
}

/** The first `bytes` bytes (fewer at the end) that base64 `digits` encode. */
const decodedPrefix = (digits: string, bytes: number): Buffer => Buffer.from(digits.slice(0, Math.ceil(bytes / 3) * 4), 'base64');

/** Proves the header from the `head` decoded, or from as many more bytes as its structure turns out to need. */
function proveBase64Header(digits: string, byteLength: number, format: ImageFormat, head: Buffer): HeaderProof {
  for (let prefix = head; ; ) {
    const proof = proveHeader(prefix, byteLength, format);
    if (proof.kind !== 'short') return proof;
    prefix = decodedPrefix(digits, Math.min(byteLength, Math.max(proof.need, 2 * prefix.length)));
  }
}

const SCAN_CHARS = 64 * 1024;
const scanScratch = Buffer.allocUnsafe((SCAN_CHARS / 4) * 3);

/**
 * The bytes base64 `digits` (no padding, no whitespace, already scanned) encode from byte
 * `offset` on, a chunk at a time in the scratch buffer: each chunk is valid until the next.
 */
function* decodedChunks(digits: string, offset: number): Generator<Uint8Array> {
  const quadruple = Math.floor(offset / 3);
  let skip = offset - quadruple * 3;
  for (let start = quadruple * 4; start < digits.length; start += SCAN_CHARS) {
    const bytes = scanScratch.write(digits.slice(start, start + SCAN_CHARS), 'base64');
    yield scanScratch.subarray(Math.min(skip, bytes), bytes);
    skip = 0;
  }
}

/**
 * Which alphabet `digits` (no padding, no whitespace) are written in, or undefined when they are
 * not base64 of one alphabet. A regular expression would test each character at about 6 ns (30 ms
 * for a 4 MiB image, most of what the relay adds to a check); these native scans run at memory
 * speed. Buffer's decoder skips characters outside both alphabets, so a character that is not a
 * digit shows as a short byte count; it reads a UTF-16 unit by its low byte, so text that is not
 * ASCII is refused first. It decodes a chunk at a time into a small scratch buffer, so the image
 * is still never held as bytes; each decoded chunk goes into `hash`, when given (the decoder
 * reads both alphabets, and chunks are whole quadruples, so the chunks are the image's bytes in
 * order).
 */
function scanBase64(digits: string, hash: Hash | undefined): 'standard' | 'url-safe' | undefined {
  if (Buffer.byteLength(digits, 'utf8') !== digits.length) return undefined;
  for (let start = 0; start < digits.length; start += SCAN_CHARS) {
    const chunk = digits.slice(start, start + SCAN_CHARS);
    const bytes = Math.floor((chunk.length * 3) / 4);
    if (scanScratch.write(chunk, 'base64') !== bytes) return undefined;
    hash?.update(scanScratch.subarray(0, bytes));
  }
  const urlSafe = digits.includes('-') || digits.includes('_');
  if (!urlSafe) return 'standard';
  return digits.includes('+') || digits.includes('/') ? undefined : 'url-safe';
}

/**
 * Clears the unused low bits of the last digit and pads, as a decode and re-encode would. Text
 * `sent` already in that form is kept as it is: a rebuilt string is a rope, which the copy into
 * the upstream request would first flatten, copying a 4 MiB image twice.
 */
function withCanonicalTail(digits: string, remainder: number, sent: string | undefined): string {
  const lastDigit = digits.charAt(digits.length - 1);
  const unusedBits = remainder === 2 ? 0b1111 : 0b11;
  const tail = BASE64_DIGITS.charAt(BASE64_DIGITS.indexOf(lastDigit) & ~unusedBits);
  const padding = remainder === 2 ? '==' : '=';
  if (tail === lastDigit && sent?.length === digits.length + padding.length) return sent;
  return `${digits.slice(0, -1)}${tail}${padding}`;
}

/** An image URL the relay accepts: the text it forwards, and the host it judged. */
export type JudgedUrl = { ok: true; href: string; host: string };

/**
 * Judges an image URL the way it will be read downstream. The URL is parsed once (WHATWG, as
 * browsers and Node read it) and forwarded in that parser's canonical serialisation, never as the
 * caller wrote it: in the canonical form every parser finds the same host (RFC 3986's split, used
 * by Python's urlsplit and many fetchers, included). What cannot be read one way only is refused
 * before that: a backslash (WHATWG reads it as `/`, urlsplit as part of the host, so
 * `https://a.example\@127.0.0.1/` names two hosts), a scheme not followed by `//`, an empty
 * authority (`https:///a.example/`), user info, and empty host labels (`localhost..`, which
 * WHATWG keeps as a name and a resolver may read as `localhost`).
 */
export function judgeUrl(text: string): JudgedUrl | ImageProblem {
  const invalid = (why: string) => problem('INVALID_URL', `image URL ${why}`);
  if (text.length > MAX_URL_LENGTH) return invalid(`is longer than ${MAX_URL_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(text)) return invalid('contains whitespace or control characters');
  if (text.includes('\\')) return invalid('contains a backslash, which URL parsers read in different ways');
  const [, scheme = '', authority] = URI_PARTS.exec(text) ?? [];
  if (!/^https?$/i.test(scheme)) return invalid('must use http or https');
  if (authority === undefined) return invalid('must begin with http:// or https://');
  if (authority === '') return invalid('names no host after //');
  if (authority.includes('@')) return invalid('must not contain user info');
  const url = URL.parse(text);
  if (url === null) return invalid('is not a valid URL');
  const host = url.hostname;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name === '' || name.startsWith('.') || name.endsWith('.') || name.includes('..')) return invalid('names a host with empty labels');
  if (!isPublicHost(name)) return invalid('must name a public host');
  if (url.href.length > MAX_URL_LENGTH) return invalid(`is longer than ${MAX_URL_LENGTH} characters once encoded`);
  return { ok: true, href: url.href, host };
}

/**
 * The WHATWG parser has already turned decimal, octal and hex IPv4 forms into dotted quads, so
 * only literal addresses and names remain. An address must be ordinary unicast; IPv6 that embeds
 * an IPv4 address the host itself reaches (IPv4-mapped `::ffff:0:0/96`, IPv4-compatible `::/96`)
 * is judged by that IPv4 address. The translation and tunnel ranges (NAT64 `64:ff9b::/96` and
 * `64:ff9b:1::/48`, SIIT, 6to4 `2002::/16`, Teredo `2001::/32`) are refused whatever they embed:
 * where they lead depends on gateways the relay cannot see, and no image host needs them.
 */
function isPublicHost(host: string): boolean {
  const literal = host.startsWith('[') ? host.slice(1, -1) : host;
  if (ipaddr.isValid(literal)) {
    const address = ipaddr.parse(literal);
    return (address.kind() === 'ipv6' ? embeddedIPv4(address as ipaddr.IPv6) ?? address : address).range() === 'unicast';
  }
  const labels = host.toLowerCase().split('.');
  const topLevel = labels.at(-1) ?? '';
  return labels.length > 1 && !PRIVATE_TLDS.has(topLevel) && !/^\d+$/.test(topLevel);
}

/** The IPv4 address of an IPv4-mapped or IPv4-compatible IPv6 address. */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  if (address.isIPv4MappedAddress()) return address.toIPv4Address();
  const parts = address.parts;
  if (parts.slice(0, 6).every((part) => part === 0)) {
    return ipaddr.fromByteArray(address.toByteArray().slice(12)) as ipaddr.IPv4;
  }
  return undefined;
}
