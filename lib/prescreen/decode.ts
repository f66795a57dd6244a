import { Buffer } from 'node:buffer';
import exifr from 'exifr';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { RgbaImage } from '../face/letterbox.ts';

/**
 * Larger pictures are not decoded: 25 megapixels already take 100 MB as RGBA, and a small file
 * can declare any size. The pre-screen then lets Deepvue judge the picture.
 */
export const MAX_MEGAPIXELS = 25;

export class PictureTooLarge extends Error {
  override readonly name = 'PictureTooLarge';
}

/** A PNG's size from its header chunk, read before anything is inflated. */
function pngSize(bytes: Uint8Array): { width: number; height: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/**
 * A JPEG or PNG as RGBA pixels, in pure JavaScript (jpeg-js, pngjs: nothing native to install in
 * Lambda), with the EXIF orientation the picture is meant to be shown in (1 when it has none):
 * a phone stores a portrait selfie sideways and says so in EXIF.
 */
export async function decodePicture(bytes: Uint8Array, format: 'jpg' | 'png'): Promise<{ image: RgbaImage; orientation: number }> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let image: RgbaImage;
  if (format === 'png') {
    const { width, height } = pngSize(bytes);
    if (width * height > MAX_MEGAPIXELS * 1e6) throw new PictureTooLarge(`a PNG of ${width}×${height} pixels`);
    image = PNG.sync.read(buffer);
  } else {
    try {
      image = jpeg.decode(buffer, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_MEGAPIXELS, maxMemoryUsageInMB: 256 });
    } catch (error) {
      if (error instanceof Error && /maxResolutionInMP|maxMemoryUsageInMB/.test(error.message)) throw new PictureTooLarge(error.message);
      throw error;
    }
  }
  const orientation = await exifr.orientation(buffer).catch(() => undefined);
  return { image, orientation: typeof orientation === 'number' && orientation >= 1 && orientation <= 8 ? orientation : 1 };
}
