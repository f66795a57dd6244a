import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import { createDeflate, crc32 } from 'node:zlib';

/** A PNG chunk: length, type, data and the CRC-32 of type and data, as the PNG specification writes it. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

/**
 * `png` made an animated PNG of one frame (APNG): an `acTL` chunk (one frame, played forever) and
 * the frame's `fcTL` right after IHDR, so the still image is the animation's first frame.
 */
export function animatedPng(png: Buffer): Buffer {
  const endOfHeader = 8 + 8 + 13 + 4;
  if (png.toString('latin1', 12, 16) !== 'IHDR') throw new Error('not a PNG that starts with IHDR');
  const animation = Buffer.alloc(8);
  animation.writeUInt32BE(1, 0);
  const frame = Buffer.alloc(26);
  png.copy(frame, 4, 16, 24); // width and height, from IHDR
  frame.writeUInt16BE(1, 22); // delay 1/1 s
  frame.writeUInt16BE(1, 24);
  return Buffer.concat([png.subarray(0, endOfHeader), pngChunk('acTL', animation), pngChunk('fcTL', frame), png.subarray(endOfHeader)]);
}

export const PNG_SIGNATURE = Buffer.from('\x89PNG\r\n\x1a\n', 'latin1');
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** A PNG's IHDR chunk. */
export function pngHeader(width: number, height: number, bitDepth = 8, colourType = 6, interlace = 0): Buffer {
  const fields = Buffer.alloc(13);
  fields.writeUInt32BE(width, 0);
  fields.writeUInt32BE(height, 4);
  fields.set([bitDepth, colourType, 0, 0, interlace], 8);
  return pngChunk('IHDR', fields);
}

/**
 * A PNG whose every row is black and filtered with Paeth (the costliest filter to undo): the
 * deflated rows compress about a thousandfold, so a 5000 × 5000 16-bit RGBA image is 194 KB,
 * a decompression bomb. Deflated as a stream, so that the rows are never held at once.
 */
export async function blackPng(width: number, height: number, bitDepth = 8, colourType = 6): Promise<Buffer> {
  const row = Buffer.alloc(1 + Math.ceil((width * (PNG_CHANNELS[colourType] ?? 4) * bitDepth) / 8));
  row[0] = 4;
  const rows = Buffer.concat(Array.from({ length: Math.max(1, Math.floor((1 << 20) / row.length)) }, () => row));
  const deflate = createDeflate({ level: 9 });
  const compressed: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => compressed.push(chunk));
  const ended = once(deflate, 'end');
  for (let left = row.length * height; left > 0; left -= rows.length) {
    if (!deflate.write(rows.subarray(0, Math.min(left, rows.length)))) await once(deflate, 'drain');
  }
  deflate.end();
  await ended;
  const palette = colourType === 3 ? [pngChunk('PLTE', Buffer.alloc(3))] : [];
  return Buffer.concat([PNG_SIGNATURE, pngHeader(width, height, bitDepth, colourType), ...palette, pngChunk('IDAT', Buffer.concat(compressed)), pngChunk('IEND', Buffer.alloc(0))]);
}

/** A JPEG marker segment: 0xFF, the marker, the length (its two bytes included), the data. */
export function jpegSegment(marker: number, data: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(data.length + 2, 2);
  return Buffer.concat([head, data]);
}

/** A JPEG's frame header (SOF0 unless told): `components` of 4:4:4 sampling, each with table 0. */
export function jpegFrame(width: number, height: number, components = 3, marker = 0xc0, precision = 8): Buffer {
  const data = Buffer.alloc(6 + 3 * components);
  data[0] = precision;
  data.writeUInt16BE(height, 1);
  data.writeUInt16BE(width, 3);
  data[5] = components;
  for (let index = 0; index < components; index += 1) data.set([index + 1, 0x11, 0], 6 + 3 * index);
  return jpegSegment(marker, data);
}

/** A JPEG's scan header over `components` (ids from 1). */
export function jpegScan(components = 3): Buffer {
  const data = Buffer.alloc(4 + 2 * components);
  data[0] = components;
  for (let index = 0; index < components; index += 1) data.set([index + 1, 0], 1 + 2 * index);
  data.set([0, 63, 0], 1 + 2 * components);
  return jpegSegment(0xda, data);
}

/** A RIFF chunk: its type, size, data and the pad byte an odd size needs. */
export function riffChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(type, 0, 'latin1');
  head.writeUInt32LE(data.length, 4);
  return Buffer.concat([head, data, Buffer.alloc(data.length % 2)]);
}

/** A WebP file of these chunks. */
export function webp(...chunks: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from('WEBP', 'latin1'), ...chunks]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

/** The start of a lossy key frame's bitstream (RFC 6386 9.1): frame tag, start code, size; what follows is for a decoder. */
export function vp8Frame(width: number, height: number, tail = 20): Buffer {
  const frame = Buffer.alloc(10 + tail);
  const partition = tail;
  frame.writeUIntLE((partition << 5) | 0x10, 0, 3); // key frame, version 0, shown
  frame.set([0x9d, 0x01, 0x2a], 3);
  frame.writeUInt16LE(width, 6);
  frame.writeUInt16LE(height, 8);
  return frame;
}
