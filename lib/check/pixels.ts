/**
 * The pixels of a check's image, decoded at most once for everything that reads them (the face
 * pre-screen; a perceptual hash would read the same), and the limits that keep that decode small.
 */
import { Buffer } from 'node:buffer';
import type { RgbaImage } from '../face/letterbox.ts';
import type { ImageHeader } from './header.ts';
import type { Base64Image, PreparedImage } from './image.ts';

/** 8-bit RGBA, row by row as stored in the file, and the EXIF orientation (1–8) it is meant to be shown in. */
export interface DecodedPixels extends RgbaImage {
  data: Uint8Array;
  orientation: number;
}

/** Decodes a JPEG or PNG whose header was proven and is within the decode limits; throws when it cannot. */
export type PixelDecoder = (bytes: Uint8Array, format: 'jpg' | 'png', header: ImageHeader) => Promise<DecodedPixels>;

export type PixelsResult = { ok: true; pixels: DecodedPixels; decodeMs: number } | { ok: false; reason: string };

/** The image's pixels: the first call decodes, every later one shares that decode. Never throws. */
export type CheckPixels = () => Promise<PixelsResult>;

/**
 * No more pixels are decoded than a selfie needs: the capture page's camera frames are at most
 * 1280 pixels on a side (it re-encodes an oversized file at 2048 at most), and the face detector
 * sees every picture shrunk to 256 × 256, so more pixels add decoding time, not precision. A
 * larger photo (a phone's 12 MP) goes to Deepvue unscreened.
 */
export const MAX_DECODE_PIXELS = 2048 * 2048;

/**
 * The most memory one decode may hold at its peak, as estimated by `decodeBytes` before it
 * starts: a quarter of the functions' 512 MB, beside the pre-screen's model and the request.
 * A larger image goes to Deepvue unscreened.
 */
export const MAX_DECODE_BYTES = 128 * 1024 * 1024;

/**
 * The peak memory a decode of this image holds, from its size, channels and bit depth, as
 * measured (bench/decode.ts, peak RSS above idle) for the pure-JavaScript decoders the pre-screen
 * ships:
 * - jpeg-js keeps every 8 × 8 block of every component as an Int32Array (about 400 bytes with its
 *   overhead, 6 per sample), then each component's lines and an interleaved copy: 11 bytes per
 *   pixel and component, chroma subsampling not counted (it would save some), and 4 for RGBA.
 *   Measured: 116 MiB for a 2192 × 1648 RGB JPEG (estimated 127 MiB);
 * - pngjs inflates the whole image and unfilters it into a second buffer (2 bytes per byte of
 *   samples, 3 with slack), expands 16-bit samples into a 16-bit RGBA image (8 bytes per pixel),
 *   unpacks samples under 8 bits, and writes RGBA: 9 bytes per pixel besides. Measured: 108 MiB
 *   for a 2088 × 1560 16-bit RGBA PNG (estimated 127 MiB), 54 MiB for a 2048 × 2048 8-bit RGBA
 *   one (84 MiB), 35 MiB for a 2048 × 2048 1-bit grey one (38 MiB).
 */
export function decodeBytes(format: 'jpg' | 'png', header: ImageHeader): number {
  const pixels = header.width * header.height;
  if (format === 'jpg') return pixels * (11 * header.channels + 4);
  const sampleBytes = (header.channels * header.bitsPerSample) / 8;
  return pixels * (3 * sampleBytes + (header.bitsPerSample === 16 ? 8 : 0) + 9);
}

type Decodable = Base64Image & { format: 'jpg' | 'png' };

/** The image as a decoder takes it, or why its pixels are not decoded: decided from its header alone. */
export function toDecode(image: PreparedImage): { ok: true; image: Decodable } | { ok: false; reason: string } {
  const refused = (reason: string) => ({ ok: false, reason }) as const;
  if (image.kind === 'url') return refused('an image URL is fetched by Deepvue, never by the relay');
  if (image.format === 'webp') return refused('WebP has no decoder in pure JavaScript');
  const { format, header } = image;
  if (format === 'jpg' && header.bitsPerSample !== 8) return refused('a 12-bit JPEG has no decoder in pure JavaScript');
  if (header.width * header.height > MAX_DECODE_PIXELS) return refused(`its ${header.width}×${header.height} pixels are over the ${MAX_DECODE_PIXELS} a decode may hold`);
  const bytes = decodeBytes(format, header);
  if (bytes > MAX_DECODE_BYTES) return refused(`decoding it would hold about ${Math.ceil(bytes / 2 ** 20)} MiB, over ${MAX_DECODE_BYTES / 2 ** 20} MiB`);
  return { ok: true, image: { ...image, format } };
}

/**
 * The pixels of one check's image, by `decode` when its header is within the limits (checked
 * before any byte is decoded), decoded at most once whoever asks first.
 *
 * @example
 * const pixels = checkPixels(image, deps.decodePixels);
 * const first = await pixels(); // decodes
 * const again = await pixels(); // the same pixels, not decoded again
 */
export function checkPixels(image: PreparedImage, decode: PixelDecoder | undefined): CheckPixels {
  let result: Promise<PixelsResult> | undefined;
  return () => {
    result ??= decodeOnce(image, decode);
    return result;
  };
}

async function decodeOnce(image: PreparedImage, decode: PixelDecoder | undefined): Promise<PixelsResult> {
  if (decode === undefined) return { ok: false, reason: 'no decoder is loaded' };
  const decodable = toDecode(image);
  if (!decodable.ok) return decodable;
  const { value, format, header } = decodable.image;
  const started = performance.now();
  try {
    const pixels = await decode(Buffer.from(value, 'base64'), format, header);
    return { ok: true, pixels, decodeMs: performance.now() - started };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
