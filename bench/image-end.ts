/**
 * What proving an image's structure to its end costs (lib/check/header.ts, proveEnd): for a
 * JPEG and a PNG of about 4 MiB (MAX_IMAGE_BYTES) whose data is noise, so that a JPEG's
 * entropy-coded data holds as many 0xFF bytes as a photograph's and a PNG's IDATs do not
 * compress, the median time of the header proof alone, of the walk from the header's end to the
 * image's end, and of the whole image check each path to Deepvue runs (base64 text, bytes).
 *
 * `node bench/image-end.ts`: the medians of 50 runs after 5 warm-up runs, as JSON.
 */
import { createCipheriv } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { proveEnd, proveHeader, type ImageFormat } from '../lib/check/header.ts';
import { prepareImageBytes, prepareImageText } from '../lib/check/image.ts';
import { pngChunk, pngHeader, PNG_SIGNATURE } from '../test/support/images.ts';
import { encodeJpeg } from '../test/support/pictures.ts';
import { sendResult } from './child.ts';
import { median } from './stats.ts';

const MiB = 1024 * 1024;
const RUNS = 50;
const WARM_UP = 5;

/** Noise from a fixed key (AES-CTR's keystream): the same image every run. */
const noise = (length: number): Buffer => createCipheriv('aes-128-ctr', Buffer.alloc(16), Buffer.alloc(16)).update(Buffer.alloc(length));

/** A JPEG of RGB noise at quality 95, about 4 MiB. */
function noisyJpeg(): Buffer {
  const width = 1480;
  const height = 1110;
  return encodeJpeg({ width, height, data: noise(width * height * 4) }, 95);
}

/** An RGBA PNG of noise in 256 KiB IDAT chunks, as encoders write them, about 4 MiB. */
function noisyPng(): Buffer {
  const side = 1020;
  const rows = noise((side * 4 + 1) * side);
  for (let row = 0; row < side; row += 1) rows[row * (side * 4 + 1)] = 0;
  const data = deflateSync(rows, { level: 1 });
  const idats = [];
  for (let at = 0; at < data.length; at += 256 * 1024) idats.push(pngChunk('IDAT', data.subarray(at, at + 256 * 1024)));
  return Buffer.concat([PNG_SIGNATURE, pngHeader(side, side), ...idats, pngChunk('IEND', Buffer.alloc(0))]);
}

async function medianMs(work: () => unknown): Promise<number> {
  for (let run = 0; run < WARM_UP; run += 1) await work();
  const samples: number[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    const started = performance.now();
    await work();
    samples.push(performance.now() - started);
  }
  return Math.round(median(samples) * 1000) / 1000;
}

export interface ImageEndResult {
  bytes: number;
  headerMs: number;
  endMs: number;
  base64CheckMs: number;
  bytesCheckMs: number;
}

async function measure(format: ImageFormat, bytes: Buffer): Promise<ImageEndResult> {
  const text = bytes.toString('base64');
  const proof = proveHeader(bytes, bytes.length, format);
  if (proof.kind !== 'proven') throw new Error(`${format}: its header is not proven`);
  const checked = await prepareImageText(text, 4 * MiB);
  if (!checked.ok) throw new Error(`${format}: ${checked.message}`);
  return {
    bytes: bytes.length,
    headerMs: await medianMs(() => proveHeader(bytes, bytes.length, format)),
    endMs: await medianMs(() => proveEnd(format, [bytes.subarray(proof.endsAt)])),
    base64CheckMs: await medianMs(() => prepareImageText(text, 4 * MiB)),
    bytesCheckMs: await medianMs(() => prepareImageBytes(bytes, 4 * MiB)),
  };
}

if (import.meta.main) {
  sendResult({ jpeg: await measure('jpg', noisyJpeg()), png: await measure('png', noisyPng()) });
}
