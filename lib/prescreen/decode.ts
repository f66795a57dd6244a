import { Buffer } from 'node:buffer';
import exifr from 'exifr';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { MAX_DECODE_BYTES, MAX_DECODE_PIXELS, type PixelDecoder } from '../check/pixels.ts';

/**
 * A JPEG or PNG as 8-bit RGBA pixels, in pure JavaScript (jpeg-js, pngjs: nothing native to
 * install in Lambda), with the EXIF orientation the picture is meant to be shown in (1 when it has
 * none): a phone stores a portrait selfie sideways and says so in EXIF. The caller decided from
 * the proven header that the decode stays within the limits (lib/check/pixels.ts); jpeg-js is
 * given the same limits, which it checks as it allocates.
 */
export const decodePixels: PixelDecoder = async (bytes, format, header) => {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const image = format === 'png'
    ? PNG.sync.read(buffer)
    : jpeg.decode(buffer, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_DECODE_PIXELS / 1e6, maxMemoryUsageInMB: MAX_DECODE_BYTES / 2 ** 20 });
  // The decoders read the frame the header proof read; anything else means the file reads two ways.
  if (image.width !== header.width || image.height !== header.height) {
    throw new Error(`the decoder found ${image.width}×${image.height} pixels where the header says ${header.width}×${header.height}`);
  }
  const orientation = await exifr.orientation(buffer).catch(() => undefined);
  return {
    width: image.width,
    height: image.height,
    data: new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength),
    orientation: typeof orientation === 'number' && orientation >= 1 && orientation <= 8 ? orientation : 1,
  };
};
