/**
 * The pixel decoder: its own package, never in a function bundle. Deployed it is built by
 * scripts/build-pixel-decoder.ts into .build/pixels/ (this module bundled, and libwebp's
 * WebAssembly beside it), in the zips of the two checking functions whatever the settings, and
 * run at run time by loadPixelDecoder (./pixels.ts) in a thread of its own (./pixel-worker.ts)
 * from PIXEL_DECODER_MODULE.
 */
import { Buffer } from 'node:buffer';
import { setPriority } from 'node:os';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { orientation as exifOrientation } from 'exifr/dist/mini.esm.mjs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { movable, PIXEL_WORKER, type DecodeReply, type DecodeRequest } from './pixel-worker.ts';
import { MAX_DECODE_BYTES, MAX_DECODE_PIXELS, type PixelDecoder } from './pixels.ts';

/**
 * A JPEG, PNG or WebP as 8-bit RGBA pixels, with the EXIF orientation the picture is meant to be
 * shown in (1 when it has none): a phone stores a portrait selfie sideways and says so in EXIF.
 * The orientation is read from a JPEG only (exifr's smallest build: the functions' code stays
 * under 1 MB with this package), as no camera writes a PNG or WebP with one.
 * JPEG and PNG in pure JavaScript (jpeg-js, pngjs), WebP by libwebp compiled to WebAssembly
 * (@cwasm/webp, loaded with the first WebP): nothing native to install in Lambda. The caller
 * decided from the proven header that the decode stays within the limits (./pixels.ts); jpeg-js
 * is given the same limits, which it checks as it allocates.
 */
export const decodePixels: PixelDecoder = async (bytes, format, header) => {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const image = format === 'png'
    ? PNG.sync.read(buffer)
    : format === 'webp'
      ? (await import('@cwasm/webp')).decode(buffer)
      : jpeg.decode(buffer, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_DECODE_PIXELS / 1e6, maxMemoryUsageInMB: MAX_DECODE_BYTES / 2 ** 20 });
  // The decoders read the frame the header proof read; anything else means the file reads two ways.
  if (image.width !== header.width || image.height !== header.height) {
    throw new Error(`the decoder found ${image.width}×${image.height} pixels where the header says ${header.width}×${header.height}`);
  }
  const orientation = format === 'jpg' ? await exifOrientation(buffer).catch(() => undefined) : undefined;
  return {
    width: image.width,
    height: image.height,
    data: new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength),
    orientation: typeof orientation === 'number' && orientation >= 1 && orientation <= 8 ? orientation : 1,
  };
};

// In the decoder's own thread (./pixel-worker.ts): decode what the check's thread sends, and move the pixels back.
if (!isMainThread && workerData === PIXEL_WORKER && parentPort !== null) {
  const port = parentPort;
  // The lowest priority, for this thread only (Linux schedules threads apart): on a function's
  // fraction of a core, the check's own thread, sending the image and reading the answer, goes first.
  try {
    setPriority(19);
  } catch {
    // Not allowed here (some sandboxes): the thread runs at the process's priority.
  }
  port.on('message', ({ id, bytes, format, header }: DecodeRequest) => {
    decodePixels(bytes, format, header).then(
      (pixels) => port.postMessage({ id, pixels } satisfies DecodeReply, movable(pixels.data)),
      (error: unknown) => port.postMessage({ id, error: error instanceof Error ? error.message : String(error) } satisfies DecodeReply),
    );
  });
  port.postMessage({ ready: true } satisfies DecodeReply);
}
