import { Buffer } from 'node:buffer';
import { crc32 } from 'node:zlib';

/** A PNG chunk: length, type, data and the CRC-32 of type and data, as the PNG specification writes it. */
function pngChunk(type: string, data: Buffer): Buffer {
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
