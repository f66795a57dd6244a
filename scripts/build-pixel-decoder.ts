/**
 * Builds the pixel decoder's package into .build/pixels/: lib/check/decode.ts bundled as one ES
 * module (jpeg-js, pngjs, exifr, and @cwasm/webp's glue) with libwebp's WebAssembly beside it. No
 * function bundles it: serverless.yml puts the folder into the zips of livenessCheck and s3Upload
 * whatever the settings (beside their bundle, at /var/task/.build/pixels/), since the replay step
 * reads pixels by default and the pre-screen when on, and names the module in
 * PIXEL_DECODER_MODULE. It is loaded with the container, off the path of a cold start's import.
 *
 * deploy/capture-page.cjs runs this before `serverless package` and `deploy`.
 *
 *   node scripts/build-pixel-decoder.ts
 */
import { copyFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { buildPackage } from './build-package.ts';

export const PIXELS_DIR = fileURLToPath(new URL('../.build/pixels/', import.meta.url));
export const PIXEL_DECODER_MODULE = `${PIXELS_DIR}decode.mjs`;
/** @cwasm/webp reads its WebAssembly from beside its module: beside the bundle, once built. */
const WEBP_WASM = createRequire(import.meta.url).resolve('@cwasm/webp/webp.wasm');

export async function buildPixelDecoder(): Promise<{ bytes: number; codeBytes: number }> {
  const dir = PIXELS_DIR;
  // The bundled CommonJS parts (pngjs, @cwasm/webp) use require and __dirname.
  await buildPackage('lib/check/decode.ts', dir, PIXEL_DECODER_MODULE);
  copyFileSync(WEBP_WASM, `${dir}webp.wasm`);
  const codeBytes = statSync(PIXEL_DECODER_MODULE).size;
  return { codeBytes, bytes: codeBytes + statSync(`${dir}webp.wasm`).size };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { bytes, codeBytes } = await buildPixelDecoder();
  process.stderr.write(`[build] pixel decoder: ${bytes} bytes (${codeBytes} of code) -> .build/pixels/\n`);
}
