import { Buffer } from 'node:buffer';
import { crc32 } from 'node:zlib';
import { imageSize } from 'image-size';

export type ImageFormat = 'jpg' | 'png' | 'webp';

/** What an image's header says, proven before the image is accepted and before any pixel is decoded. */
export interface ImageHeader {
  width: number;
  height: number;
  /**
   * Samples per pixel as stored: a JPEG's components (1 grey, 3 YCbCr, 4 CMYK), a PNG's channels
   * (a palette index is 1), a WebP's 3 or 4 (with alpha).
   */
  channels: number;
  /** Bits per sample: 8 for a JPEG (12 in an extended one), 1 to 16 for a PNG, 8 for a WebP. */
  bitsPerSample: number;
}

/**
 * The dimensions an accepted image may have. No camera, front or back, takes a picture over
 * 16384 pixels on a side (the largest WebP allows is 16383), and the largest front cameras take
 * 50 MP (8160 × 6120). A header that declares more in at most MAX_IMAGE_BYTES is a decompression
 * bomb aimed at whoever decodes it, Deepvue included; one that declares 0 has no image.
 */
export const MAX_IMAGE_SIDE = 16_384;
export const MAX_IMAGE_PIXELS = 50_000_000;

/**
 * The verdict on a header: proven, refused (with the reason, for the caller's message), or not
 * decided yet because the structure runs past the `need` bytes given (while the image has them).
 * A proven header says where the rest of the image begins (`endsAt`), for proveEnd to walk from
 * there: a JPEG's first entropy-coded data, a PNG's first IDAT chunk, a WebP's end.
 */
export type HeaderProof =
  | { kind: 'proven'; header: ImageHeader; endsAt: number }
  | { kind: 'refused'; reason: string }
  | { kind: 'short'; need: number };

class Refused extends Error {}
class Short extends Error {
  readonly need: number;

  constructor(need: number) {
    super(`the header runs past ${need} bytes`);
    this.need = need;
  }
}

/** Reads a prefix of an image of `total` bytes; reading past the prefix is Short, past the image Refused. */
class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  /** The image's length. */
  readonly total: number;

  constructor(bytes: Uint8Array, total: number) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.total = total;
  }

  /** Refuses an image shorter than `end` bytes, without needing them in the prefix. */
  within(end: number): void {
    if (end > this.total) refuse('it ends inside its header');
  }

  /** Throws unless the `length` bytes at `offset` are in the prefix. */
  need(offset: number, length: number): void {
    this.within(offset + length);
    if (offset + length > this.#bytes.byteLength) throw new Short(offset + length);
  }

  bytes(offset: number, length: number): Uint8Array {
    this.need(offset, length);
    return this.#bytes.subarray(offset, offset + length);
  }

  u8(offset: number): number {
    this.need(offset, 1);
    return this.#view.getUint8(offset);
  }

  u16(offset: number, littleEndian = false): number {
    this.need(offset, 2);
    return this.#view.getUint16(offset, littleEndian);
  }

  u24le(offset: number): number {
    return this.u16(offset, true) + (this.u8(offset + 2) << 16);
  }

  u32(offset: number, littleEndian = false): number {
    this.need(offset, 4);
    return this.#view.getUint32(offset, littleEndian);
  }

  text(offset: number, length: number): string {
    return String.fromCharCode(...this.bytes(offset, length));
  }
}

function refuse(reason: string): never {
  throw new Refused(reason);
}

/**
 * Proves that `prefix` (the first bytes of an image of `total` bytes, which file-type recognised
 * as `format`) begins a JPEG, PNG or WebP whose structure is intact up to its first frame, and
 * whose dimensions are within MAX_IMAGE_SIDE and MAX_IMAGE_PIXELS. The dimensions are image-size's
 * reading, a maintained parser. It is lenient about structure: it skips bytes one by one to find
 * a JPEG's frame header, ignores the segment lengths it steps over and reads only SOF0–2, reads a
 * PNG's or a WebP's dimensions at fixed offsets without checking what surrounds them (no CRC, no
 * VP8 start code), and fails only when a read falls outside the buffer. So the walks below add
 * what a decoder would refuse before the first frame, and their reading must agree with
 * image-size's. (It is strict in one way: it skips a JPEG's first segment unread, and loses its
 * way on fill bytes between segments; such files are legal but written by no camera or browser.)
 * What follows the header is proveEnd's to walk; proveImage does both for an image held whole.
 *
 * @example
 * const proof = proveHeader(bytes, bytes.length, 'jpg');
 * if (proof.kind === 'proven') console.log(proof.header.width, proof.header.height);
 */
export function proveHeader(prefix: Uint8Array, total: number, format: ImageFormat): HeaderProof {
  const reader = new Reader(prefix, total);
  let walked: ImageHeader & { endsAt: number };
  try {
    walked = format === 'jpg' ? walkJpeg(reader) : format === 'png' ? walkPng(reader) : walkWebp(reader);
  } catch (error) {
    if (error instanceof Short) return { kind: 'short', need: error.need };
    if (error instanceof Refused) return { kind: 'refused', reason: error.message };
    throw error;
  }
  let measured: { width: number; height: number; type?: string | undefined };
  try {
    measured = imageSize(prefix);
  } catch {
    return { kind: 'refused', reason: 'its dimensions cannot be read' };
  }
  if (measured.type !== format || measured.width !== walked.width || measured.height !== walked.height) {
    return { kind: 'refused', reason: 'its header can be read in two ways' };
  }
  const { endsAt, ...header } = walked;
  const { width, height } = header;
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    return { kind: 'refused', reason: `it is ${width}×${height} pixels, over ${MAX_IMAGE_SIDE} on a side or ${MAX_IMAGE_PIXELS / 1e6} megapixels` };
  }
  return { kind: 'proven', header, endsAt };
}

/**
 * Proves that the rest of an image, from where its proven header ends (`chunks`: its bytes from
 * `endsAt` on, in order, in pieces of any size), runs to the image's end as its format says,
 * without decoding a pixel: a JPEG's entropy-coded data and segments up to EOI (bytes after it
 * are allowed, as cameras and phones append their own data there); a PNG's chunks up to IEND,
 * each with its CRC (IDAT's included) and nothing after it; a WebP has nothing left to walk, its
 * header having matched its RIFF size to the file. Returns the reason for a refusal, or
 * undefined. So a header with anything else behind it (HTML, a file cut inside its image data)
 * is not an image.
 *
 * @example
 * const refused = proveEnd('png', [bytes.subarray(proof.endsAt)]);
 */
export function proveEnd(format: ImageFormat, chunks: Iterable<Uint8Array>): string | undefined {
  if (format === 'webp') return undefined;
  const walker = format === 'jpg' ? new JpegEnd() : new PngEnd();
  try {
    for (const chunk of chunks) {
      if (walker.feed(chunk) === 'done') break;
    }
    walker.end();
    return undefined;
  } catch (error) {
    if (error instanceof Refused) return error.message;
    throw error;
  }
}

/** proveHeader, then proveEnd, for an image held whole. */
export function proveImage(bytes: Uint8Array, format: ImageFormat): Exclude<HeaderProof, { kind: 'short' }> {
  const proof = proveHeader(bytes, bytes.byteLength, format);
  // A whole image is never short: every read past its header is a refusal.
  if (proof.kind !== 'proven') return proof.kind === 'short' ? { kind: 'refused', reason: 'it ends inside its header' } : proof;
  const refused = proveEnd(format, [bytes.subarray(proof.endsAt)]);
  return refused === undefined ? proof : { kind: 'refused', reason: refused };
}

/** SOF0–SOF2: baseline, extended and progressive Huffman JPEG, what image-size and jpeg-js read. */
const FRAME_MARKERS = new Set([0xc0, 0xc1, 0xc2]);
/** Every other SOF: lossless and arithmetic-coded JPEG, which no camera or browser writes. */
const OTHER_FRAME_MARKERS = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
const START_OF_SCAN = 0xda;

/**
 * A JPEG's segments from SOI to the header of its first scan: each marker right after the
 * segment before it (fill bytes 0xFF allowed), each length inside the file, exactly one frame
 * header (SOF0–2, with its length, precision, size, 1 to 4 components and their sampling factors
 * and tables in range), and a scan header naming components of that frame. libjpeg skips other
 * bytes between segments, with a warning; image-size loses its way on them, so they are refused.
 * What follows the scan header is entropy-coded data, walked by JpegEnd.
 */
function walkJpeg(reader: Reader): ImageHeader & { endsAt: number } {
  let frame: (ImageHeader & { componentIds: Set<number> }) | undefined;
  let offset = 2;
  for (;;) {
    if (reader.u8(offset) !== 0xff) refuse('bytes that are not a marker follow a segment');
    while (reader.u8(offset) === 0xff) offset += 1;
    const code = reader.u8(offset);
    offset += 1;
    if (code === 0x00 || code === 0xd8 || code === 0xd9) refuse('a marker is out of place before its first scan');
    if ((code >= 0xd0 && code <= 0xd7) || code === 0x01) continue;
    const length = reader.u16(offset);
    if (length < 2) refuse('a segment has an impossible length');
    const segment = reader.bytes(offset + 2, length - 2);
    offset += length;
    if (OTHER_FRAME_MARKERS.has(code)) refuse('it is a lossless or arithmetic-coded JPEG');
    if (FRAME_MARKERS.has(code)) {
      if (frame !== undefined) refuse('it has two frame headers');
      frame = jpegFrame(segment, code);
    } else if (code === START_OF_SCAN) {
      if (frame === undefined) refuse('a scan comes before the frame header');
      jpegScan(segment, frame.componentIds);
      const { componentIds: _, ...header } = frame;
      return { ...header, endsAt: offset };
    }
  }
}

function jpegFrame(segment: Uint8Array, code: number): ImageHeader & { componentIds: Set<number> } {
  const count = segment[5] ?? 0;
  if (count < 1 || count > 4 || segment.length !== 6 + 3 * count) refuse('its frame header is malformed');
  const precision = segment[0] ?? 0;
  if (!(precision === 8 || (precision === 12 && code !== 0xc0))) refuse(`its frame header declares ${precision}-bit samples`);
  const height = ((segment[1] ?? 0) << 8) | (segment[2] ?? 0);
  const width = ((segment[3] ?? 0) << 8) | (segment[4] ?? 0);
  // A height of 0 defers it to a DNL marker after the first scan, which only decoding would find.
  if (width === 0 || height === 0) refuse('its frame header declares no size');
  const componentIds = new Set<number>();
  for (let index = 0; index < count; index += 1) {
    const at = 6 + 3 * index;
    const sampling = segment[at + 1] ?? 0;
    const horizontal = sampling >> 4;
    const vertical = sampling & 0x0f;
    if (horizontal < 1 || horizontal > 4 || vertical < 1 || vertical > 4 || (segment[at + 2] ?? 4) > 3) refuse('its frame header is malformed');
    componentIds.add(segment[at] ?? 0);
  }
  if (componentIds.size !== count) refuse('its frame header names a component twice');
  return { width, height, channels: count, bitsPerSample: precision, componentIds };
}

function jpegScan(segment: Uint8Array, componentIds: ReadonlySet<number>): void {
  const count = segment[0] ?? 0;
  if (count < 1 || count > 4 || segment.length !== 4 + 2 * count) refuse('its scan header is malformed');
  for (let index = 0; index < count; index += 1) {
    if (!componentIds.has(segment[1 + 2 * index] ?? -1)) refuse('its scan names a component the frame lacks');
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Channels of each PNG colour type, and the bit depths it allows. */
const PNG_COLOUR_TYPES: ReadonlyMap<number, { channels: number; depths: readonly number[] }> = new Map([
  [0, { channels: 1, depths: [1, 2, 4, 8, 16] }],
  [2, { channels: 3, depths: [8, 16] }],
  [3, { channels: 1, depths: [1, 2, 4, 8] }],
  [4, { channels: 2, depths: [8, 16] }],
  [6, { channels: 4, depths: [8, 16] }],
]);
const MAX_PNG_LENGTH = 2 ** 31 - 1;

/**
 * A PNG's chunks from its signature to its first IDAT: IHDR first, with its fields in the ranges
 * the specification allows; every chunk's length inside the file, its type four letters and its
 * CRC right; no critical chunk a decoder must refuse (a second IHDR, IEND, an unknown one such as
 * Apple's CgBI); PLTE where the colour type needs or allows it. The first IDAT must lie inside
 * the file; from there PngEnd walks the chunks to IEND.
 */
function walkPng(reader: Reader): ImageHeader & { endsAt: number } {
  if (!PNG_SIGNATURE.every((byte, index) => reader.u8(index) === byte)) refuse('its PNG signature is damaged');
  const header = pngChunk(reader, 8);
  if (header.type !== 'IHDR' || header.data.length !== 13) refuse('it does not begin with its image header');
  const view = new DataView(header.data.buffer, header.data.byteOffset, 13);
  const width = view.getUint32(0);
  const height = view.getUint32(4);
  const [depth = 0, colourType = 0, compression, filter, interlace = 0] = header.data.subarray(8);
  const colour = PNG_COLOUR_TYPES.get(colourType);
  if (width === 0 || height === 0 || width > MAX_PNG_LENGTH || height > MAX_PNG_LENGTH) refuse('its image header declares no size');
  if (colour === undefined || !colour.depths.includes(depth) || compression !== 0 || filter !== 0 || interlace > 1) {
    refuse('its image header is malformed');
  }
  let palette = false;
  for (let offset = header.next; ; ) {
    const length = reader.u32(offset);
    const type = reader.text(offset + 4, 4);
    if (!/^[A-Za-z]{4}$/.test(type) || length > MAX_PNG_LENGTH) refuse('a chunk is malformed');
    if (type === 'IDAT') {
      reader.within(offset + 12 + length);
      if (colourType === 3 && !palette) refuse('its palette is missing');
      return { width, height, channels: colour.channels, bitsPerSample: depth, endsAt: offset };
    }
    const chunk = pngChunk(reader, offset);
    if (type === 'PLTE') {
      if (palette || colourType === 0 || colourType === 4 || length === 0 || length % 3 !== 0 || length > 768) refuse('its palette is malformed');
      palette = true;
    } else if (/^[A-Z]/.test(type)) {
      refuse(`it has a critical ${type} chunk before its image data`);
    }
    offset = chunk.next;
  }
}

/** The PNG chunk at `offset`, its CRC checked. */
function pngChunk(reader: Reader, offset: number): { type: string; data: Uint8Array; next: number } {
  const length = reader.u32(offset);
  if (length > MAX_PNG_LENGTH) refuse('a chunk is malformed');
  const typeAndData = reader.bytes(offset + 4, 4 + length);
  if (crc32(typeAndData) !== reader.u32(offset + 8 + length)) refuse('a chunk fails its CRC');
  return { type: reader.text(offset + 4, 4), data: typeAndData.subarray(4), next: offset + 12 + length };
}

/**
 * A WebP's RIFF container up to its first frame: the RIFF size the file's length (a pad byte
 * after it allowed), so that nothing rides behind the container; the first chunk VP8, VP8L or VP8X, every chunk inside the RIFF, and the frame header checked as libwebp checks
 * it (VP8: a shown key frame, its partition inside the chunk, the start code, a size; VP8L: the
 * signature, version 0). An extended file (VP8X) needs a frame, of the canvas's size when still;
 * an animated one's first frame (ANMF) must parse the same way.
 */
function walkWebp(reader: Reader): ImageHeader & { endsAt: number } {
  if (reader.text(0, 4) !== 'RIFF' || reader.text(8, 4) !== 'WEBP') refuse('its RIFF header is damaged');
  const end = 8 + reader.u32(4, true);
  reader.within(end);
  if (reader.total > end + 1) refuse('bytes follow its RIFF container');
  return { ...walkWebpFrame(reader, end), endsAt: reader.total };
}

function walkWebpFrame(reader: Reader, end: number): ImageHeader {
  const first = reader.text(12, 4);
  if (first !== 'VP8X') return webpFrame(reader, 12, end);
  const extended = reader.u32(16, true);
  if (extended < 10) refuse('its extended header is malformed');
  const flags = reader.u8(20);
  const canvas = { width: reader.u24le(24) + 1, height: reader.u24le(27) + 1 };
  const alpha = (flags & 0x10) !== 0;
  for (let offset = 20 + extended + (extended % 2); offset + 8 <= end; ) {
    const type = reader.text(offset, 4);
    const size = reader.u32(offset + 4, true);
    if (offset + 8 + size > end) refuse('a chunk runs past its RIFF container');
    if (type === 'VP8 ' || type === 'VP8L') {
      const frame = webpFrame(reader, offset, end);
      if (frame.width !== canvas.width || frame.height !== canvas.height) refuse('its frame and canvas differ in size');
      return { ...canvas, channels: alpha ? 4 : frame.channels, bitsPerSample: 8 };
    }
    if (type === 'ANMF') {
      const frame = { width: reader.u24le(offset + 14) + 1, height: reader.u24le(offset + 17) + 1 };
      let inner = offset + 24;
      if (reader.text(inner, 4) === 'ALPH') inner += 8 + reader.u32(inner + 4, true) + (reader.u32(inner + 4, true) % 2);
      const image = webpFrame(reader, inner, offset + 8 + size);
      if (image.width !== frame.width || image.height !== frame.height) refuse('its first frame is malformed');
      return { ...canvas, channels: alpha ? 4 : image.channels, bitsPerSample: 8 };
    }
    offset += 8 + size + (size % 2);
  }
  return refuse('it has no frame');
}

/** The VP8 or VP8L chunk at `offset`, inside a container ending at `end`. */
function webpFrame(reader: Reader, offset: number, end: number): ImageHeader {
  const type = reader.text(offset, 4);
  const size = reader.u32(offset + 4, true);
  if (offset + 8 + size > end) refuse('its frame runs past its container');
  const at = offset + 8;
  if (type === 'VP8 ') {
    if (size < 10) refuse('its frame is malformed');
    const tag = reader.u24le(at);
    const keyFrame = (tag & 1) === 0;
    const version = (tag >> 1) & 7;
    const shown = (tag >> 4) & 1;
    if (!keyFrame || version > 3 || shown !== 1 || tag >> 5 >= size) refuse('its frame tag is malformed');
    if (reader.u8(at + 3) !== 0x9d || reader.u8(at + 4) !== 0x01 || reader.u8(at + 5) !== 0x2a) refuse('its frame lacks the VP8 start code');
    const width = reader.u16(at + 6, true) & 0x3fff;
    const height = reader.u16(at + 8, true) & 0x3fff;
    if (width === 0 || height === 0) refuse('its frame declares no size');
    return { width, height, channels: 3, bitsPerSample: 8 };
  }
  if (type === 'VP8L') {
    if (size < 5 || reader.u8(at) !== 0x2f) refuse('its lossless frame lacks its signature');
    const bits = reader.u32(at + 1, true);
    if (bits >>> 29 !== 0) refuse('its lossless frame has an unknown version');
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, channels: (bits >>> 28) & 1 ? 4 : 3, bitsPerSample: 8 };
  }
  return refuse('it has no VP8 or VP8L frame');
}

/** Walks the rest of an image piece by piece; `feed` says `done` once nothing after may matter. */
interface EndWalker {
  feed(bytes: Uint8Array): 'more' | 'done';
  /** Refuses an image that ended before its structure did. */
  end(): void;
}

/** Markers of the segments that may follow a scan: tables, restart interval, scans, DNL, APPn, comments. */
const SEGMENTS_AFTER_SCAN = new Set([0xc4, 0xdb, 0xdd, START_OF_SCAN, 0xdc, ...Array.from({ length: 16 }, (_, n) => 0xe0 + n), 0xfe]);
const END_OF_IMAGE = 0xd9;

/**
 * A JPEG after its first scan header, to EOI: entropy-coded data, in which 0xFF is only ever
 * followed by 0x00 (a stuffed byte), a restart marker RST0–7, more 0xFF (fill) or a marker that
 * ends the scan; then further segments (tables, scans of a progressive JPEG, APPn, comments),
 * each marker right after the segment before it, and each further scan header well-formed. Only
 * the markers are read: finding them is a byte search, a few milliseconds for 4 MiB. Whatever
 * follows EOI is not read.
 */
class JpegEnd implements EndWalker {
  #state: 'entropy' | 'marker' | 'between' | 'length' | 'segment' | 'done' = 'entropy';
  /** The marker just read came inside a scan's data, where stuffed bytes and restart markers belong. */
  #inScan = true;
  #code = 0;
  #length: number[] = [];
  #remaining = 0;
  /** A further scan header, collected to be checked (at most 14 bytes). */
  #scan: number[] = [];

  feed(chunk: Uint8Array): 'more' | 'done' {
    // Buffer's indexOf searches natively; a Uint8Array's is twice as slow.
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let at = 0; at < bytes.length; ) {
      switch (this.#state) {
        case 'entropy': {
          const marker = bytes.indexOf(0xff, at);
          if (marker < 0) return 'more';
          at = marker + 1;
          this.#state = 'marker';
          break;
        }
        case 'between':
          if (bytes[at] !== 0xff) refuse('bytes that are not a marker follow a segment after its first scan');
          at += 1;
          this.#state = 'marker';
          break;
        case 'marker':
          at += 1;
          if (this.#marker(bytes[at - 1] ?? 0) === 'done') return 'done';
          break;
        case 'length':
          this.#length.push(bytes[at] ?? 0);
          at += 1;
          if (this.#length.length === 2) this.#segment();
          break;
        case 'segment': {
          const taken = Math.min(this.#remaining, bytes.length - at);
          if (this.#code === START_OF_SCAN) this.#scan.push(...bytes.subarray(at, at + taken));
          at += taken;
          this.#remaining -= taken;
          if (this.#remaining === 0) this.#segmentRead();
          break;
        }
        case 'done':
          return 'done';
      }
    }
    return this.#state === 'done' ? 'done' : 'more';
  }

  end(): void {
    if (this.#state !== 'done') refuse('it ends before its end-of-image marker (cut inside its image data, or not a JPEG after its header)');
  }

  /** Reads the byte after 0xFF. */
  #marker(code: number): 'more' | 'done' {
    if (code === 0xff) return 'more';
    if (code === 0x00 || (code >= 0xd0 && code <= 0xd7)) {
      if (!this.#inScan) refuse('a stuffed byte or restart marker is outside a scan');
      this.#state = 'entropy';
    } else if (code === END_OF_IMAGE) {
      this.#state = 'done';
      return 'done';
    } else if (SEGMENTS_AFTER_SCAN.has(code)) {
      this.#code = code;
      this.#inScan = false;
      this.#length = [];
      this.#state = 'length';
    } else {
      refuse('a marker is out of place after its first scan');
    }
    return 'more';
  }

  #segment(): void {
    const length = ((this.#length[0] ?? 0) << 8) | (this.#length[1] ?? 0);
    if (length < 2) refuse('a segment has an impossible length');
    if (this.#code === START_OF_SCAN && length > 14) refuse('a scan header is malformed');
    this.#remaining = length - 2;
    this.#scan = [];
    this.#state = 'segment';
    if (this.#remaining === 0) this.#segmentRead();
  }

  #segmentRead(): void {
    if (this.#code !== START_OF_SCAN) {
      this.#state = 'between';
      return;
    }
    const count = this.#scan[0] ?? 0;
    if (count < 1 || count > 4 || this.#scan.length !== 4 + 2 * count) refuse('a scan header is malformed');
    this.#inScan = true;
    this.#state = 'entropy';
  }
}

/**
 * A PNG from its first IDAT chunk to IEND: every chunk whole, with a four-letter type, a length
 * within the specification's and a right CRC (hashed natively: about a millisecond for 4 MiB);
 * the IDAT chunks one run; after them only ancillary chunks and IEND, empty; nothing after IEND.
 */
class PngEnd implements EndWalker {
  #state: 'head' | 'data' | 'crc' | 'done' = 'head';
  /** A chunk's length and type, then its CRC, as they arrive. */
  readonly #field = new Uint8Array(8);
  #filled = 0;
  #type = '';
  #remaining = 0;
  #crc = 0;
  #images: 'before' | 'in' | 'after' = 'before';

  feed(bytes: Uint8Array): 'more' | 'done' {
    for (let at = 0; at < bytes.length; ) {
      switch (this.#state) {
        case 'head':
          at = this.#fill(bytes, at, 8);
          if (this.#filled === 8) this.#head();
          break;
        case 'data': {
          const taken = Math.min(this.#remaining, bytes.length - at);
          this.#crc = crc32(bytes.subarray(at, at + taken), this.#crc);
          at += taken;
          this.#remaining -= taken;
          if (this.#remaining === 0) this.#state = 'crc';
          break;
        }
        case 'crc':
          at = this.#fill(bytes, at, 4);
          if (this.#filled === 4) this.#checkCrc();
          break;
        case 'done':
          refuse('bytes follow its IEND chunk');
      }
    }
    return 'more';
  }

  end(): void {
    if (this.#state !== 'done') refuse('it ends before its IEND chunk (cut inside its image data, or not a PNG after its header)');
  }

  /** Copies bytes of the field being read until it holds `size`; returns where reading stopped. */
  #fill(bytes: Uint8Array, at: number, size: number): number {
    const taken = Math.min(size - this.#filled, bytes.length - at);
    this.#field.set(bytes.subarray(at, at + taken), this.#filled);
    this.#filled += taken;
    return at + taken;
  }

  #head(): void {
    const length = new DataView(this.#field.buffer).getUint32(0);
    const typeBytes = this.#field.subarray(4, 8);
    this.#type = String.fromCharCode(...typeBytes);
    if (!/^[A-Za-z]{4}$/.test(this.#type) || length > MAX_PNG_LENGTH) refuse('a chunk is malformed');
    if (this.#type === 'IDAT') {
      if (this.#images === 'after') refuse('its image data is split by other chunks');
      this.#images = 'in';
    } else if (this.#type === 'IEND') {
      if (length !== 0) refuse('its IEND chunk is malformed');
    } else if (/^[A-Z]/.test(this.#type)) {
      refuse(`it has a critical ${this.#type} chunk after its image data`);
    } else if (this.#images === 'in') {
      this.#images = 'after';
    }
    this.#crc = crc32(typeBytes);
    this.#remaining = length;
    this.#filled = 0;
    this.#state = length === 0 ? 'crc' : 'data';
  }

  #checkCrc(): void {
    if (new DataView(this.#field.buffer).getUint32(0) !== this.#crc) refuse('a chunk fails its CRC');
    this.#filled = 0;
    this.#state = this.#type === 'IEND' ? 'done' : 'head';
  }
}
