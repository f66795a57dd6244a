import { Buffer } from 'node:buffer';
import { fileTypeFromBuffer } from 'file-type';
import ipaddr from 'ipaddr.js';

/** What is sent upstream as `image`: a URL as the caller gave it, or canonical standard base64. */
export type PreparedImage =
  | { kind: 'url'; value: string }
  | { kind: 'base64'; value: string; format: ImageFormat; byteLength: number };

export type ImageFormat = 'jpg' | 'png' | 'webp';

export type ImageProblemCode = 'INVALID_BASE64_STRING' | 'INVALID_URL' | 'UNSUPPORTED_IMAGE_FORMAT' | 'PAYLOAD_TOO_LARGE';

export type ImageProblem = { ok: false; subCode: ImageProblemCode; message: string };

export type ImageResult = { ok: true; image: PreparedImage } | ImageProblem;

const ACCEPTED_FORMATS: ReadonlySet<string> = new Set<ImageFormat>(['jpg', 'png', 'webp']);
export const MAX_URL_LENGTH = 2048;
/** file-type recognises JPEG, PNG and WebP from their first bytes; decoding more would copy the image. */
export const SNIFF_BYTES = 4100;
const SNIFF_BASE64_CHARS = Math.ceil(SNIFF_BYTES / 3) * 4;

/**
 * Top-level names that never reach a public server (RFC 6761, common private zones, and `arpa`,
 * which holds RFC 8375's home.arpa and reverse-lookup names but no web servers).
 */
const PRIVATE_TLDS = new Set(['localhost', 'local', 'internal', 'localdomain', 'lan', 'intranet', 'corp', 'home', 'arpa', 'test', 'invalid']);
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;
const DATA_IMAGE_PREFIX = /^data:image\/[a-z0-9.+-]+;base64,/i;
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
  const dataPrefix = DATA_IMAGE_PREFIX.exec(trimmed);
  if (dataPrefix === null && SCHEME.test(trimmed)) return checkUrl(text);
  return canonicalBase64(dataPrefix === null ? trimmed : trimmed.slice(dataPrefix[0].length), maxBytes);
}

/** Validates image bytes read from elsewhere (an S3 object) and encodes them once. */
export async function prepareImageBytes(bytes: Uint8Array, maxBytes: number): Promise<ImageResult> {
  if (bytes.byteLength > maxBytes) return imageTooLarge(bytes.byteLength, maxBytes);
  const format = await sniffFormat(bytes.subarray(0, SNIFF_BYTES));
  if (format === undefined) return unsupportedImage();
  const value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  return { ok: true, image: { kind: 'base64', value, format, byteLength: bytes.byteLength } };
}

/** Recognises an accepted image format from the first bytes of a file. */
export async function sniffFormat(head: Uint8Array): Promise<ImageFormat | undefined> {
  const type = await fileTypeFromBuffer(head);
  return type !== undefined && ACCEPTED_FORMATS.has(type.ext) ? (type.ext as ImageFormat) : undefined;
}

/** The answers to an image too large or of another format, also given before an S3 object is read whole. */
export const imageTooLarge = (byteLength: number, maxBytes: number): ImageProblem =>
  problem('PAYLOAD_TOO_LARGE', `image is ${byteLength} bytes; the largest accepted is ${maxBytes} bytes`);
export const unsupportedImage = (): ImageProblem => problem('UNSUPPORTED_IMAGE_FORMAT', 'image must be a JPEG, PNG or WebP file');

/**
 * Brings base64 in either alphabet, with or without padding and whitespace, to standard padded
 * form by rewriting the text; only the first few KiB are decoded, to recognise the format, so a
 * 4 MiB image is never held as bytes and text at once. Written by hand because Buffer's decoder
 * silently skips characters outside the alphabet, which would forward junk as an image.
 */
async function canonicalBase64(text: string, maxBytes: number): Promise<ImageResult> {
  let digits = /\s/.test(text) ? text.replace(/\s+/g, '') : text;
  const padded = digits;
  let padding = 0;
  while (digits.endsWith('=', digits.length - padding)) padding += 1;
  if (padding > 0) digits = digits.slice(0, -padding);
  const alphabet = base64Alphabet(digits);
  if (digits === '' || alphabet === undefined) {
    return problem('INVALID_BASE64_STRING', 'image is neither an http(s) URL nor valid base64');
  }
  const remainder = digits.length % 4;
  if (remainder === 1 || padding > 2 || (padding > 0 && (digits.length + padding) % 4 !== 0)) {
    return problem('INVALID_BASE64_STRING', 'image is base64 of the wrong length');
  }
  const byteLength = Math.floor((digits.length * 3) / 4);
  if (byteLength > maxBytes) return imageTooLarge(byteLength, maxBytes);

  const format = await sniffFormat(Buffer.from(digits.slice(0, SNIFF_BASE64_CHARS), 'base64'));
  if (format === undefined) return unsupportedImage();

  if (alphabet === 'url-safe') digits = digits.replaceAll('-', '+').replaceAll('_', '/');
  const value = remainder === 0 ? digits : withCanonicalTail(digits, remainder, alphabet === 'standard' ? padded : undefined);
  return { ok: true, image: { kind: 'base64', value, format, byteLength } };
}

const SCAN_CHARS = 64 * 1024;
const scanScratch = Buffer.allocUnsafe((SCAN_CHARS / 4) * 3);

/**
 * Which alphabet `digits` (no padding, no whitespace) are written in, or undefined when they are
 * not base64 of one alphabet. A regular expression would test each character at about 6 ns (30 ms
 * for a 4 MiB image, most of what the relay adds to a check); these native scans run at memory
 * speed. Buffer's decoder skips characters outside both alphabets, so a character that is not a
 * digit shows as a short byte count; it reads a UTF-16 unit by its low byte, so text that is not
 * ASCII is refused first. It decodes a chunk at a time into a small scratch buffer, so the image
 * is still never held as bytes.
 */
function base64Alphabet(digits: string): 'standard' | 'url-safe' | undefined {
  if (Buffer.byteLength(digits, 'utf8') !== digits.length) return undefined;
  for (let start = 0; start < digits.length; start += SCAN_CHARS) {
    const chunk = digits.slice(start, start + SCAN_CHARS);
    if (scanScratch.write(chunk, 'base64') !== Math.floor((chunk.length * 3) / 4)) return undefined;
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

function checkUrl(text: string): ImageResult {
  const invalid = (why: string) => problem('INVALID_URL', `image URL ${why}`);
  if (text.length > MAX_URL_LENGTH) return invalid(`is longer than ${MAX_URL_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(text)) return invalid('contains whitespace or control characters');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return invalid('is not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return invalid('must use http or https');
  if (url.username !== '' || url.password !== '') return invalid('must not contain user info');
  const host = url.hostname.replace(/\.$/, '').toLowerCase();
  if (!isPublicHost(host)) return invalid('must name a public host');
  return { ok: true, image: { kind: 'url', value: text } };
}

/**
 * The WHATWG parser has already turned decimal, octal and hex IPv4 forms into dotted quads, so
 * only literal addresses and names remain; an address must be ordinary unicast, and IPv4-mapped
 * IPv6 is judged by its IPv4 address.
 */
function isPublicHost(host: string): boolean {
  const literal = host.startsWith('[') ? host.slice(1, -1) : host;
  if (ipaddr.isValid(literal)) {
    const address = ipaddr.parse(literal);
    const effective = address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()
      ? (address as ipaddr.IPv6).toIPv4Address()
      : address;
    return effective.range() === 'unicast';
  }
  const labels = host.split('.');
  const topLevel = labels.at(-1) ?? '';
  return labels.length > 1 && !PRIVATE_TLDS.has(topLevel) && !/^\d+$/.test(topLevel);
}
