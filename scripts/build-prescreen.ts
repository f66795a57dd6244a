/**
 * Builds the pre-screen's package into .build/prescreen/: lib/prescreen/screen.ts bundled as one
 * ES module (TensorFlow.js, its WebAssembly backend; the pixels come decoded, see
 * scripts/build-pixel-decoder.ts) with the files it
 * reads beside it: BlazeFace's graph and weights and their licence (from Human's package), and
 * tfjs-core's SIMD WebAssembly binary. No function bundles any of it: with param prescreen 'on',
 * serverless.yml adds the folder to the zips of livenessCheck and s3Upload (beside their bundle,
 * at /var/task/.build/prescreen/) and names the module in PRESCREEN_MODULE, which they import
 * when PRESCREEN=on.
 *
 * deploy/capture-page.cjs runs this before `serverless package` and `deploy`.
 *
 *   node scripts/build-prescreen.ts
 */
import { copyFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FACE_FILES } from '../lib/face/files.ts';
import { buildPackage } from './build-package.ts';

export const PRESCREEN_DIR = fileURLToPath(new URL('../.build/prescreen/', import.meta.url));
export const PRESCREEN_MODULE = `${PRESCREEN_DIR}screen.mjs`;

export async function buildPrescreen(): Promise<{ bytes: number }> {
  const dir = PRESCREEN_DIR;
  // The bundled CommonJS parts (the WebAssembly backend's Emscripten glue) use require and __dirname.
  await buildPackage('lib/prescreen/screen.ts', dir, PRESCREEN_MODULE);
  copyFileSync(FACE_FILES.model, `${dir}blazeface.json`);
  copyFileSync(FACE_FILES.weights, `${dir}blazeface.bin`);
  copyFileSync(FACE_FILES.modelLicence, `${dir}blazeface.LICENSE`);
  copyFileSync(FACE_FILES.wasm, `${dir}tfjs-backend-wasm-simd.wasm`);
  const bytes = ['screen.mjs', 'blazeface.json', 'blazeface.bin', 'tfjs-backend-wasm-simd.wasm'].reduce((sum, name) => sum + statSync(`${dir}${name}`).size, 0);
  return { bytes };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { bytes } = await buildPrescreen();
  process.stderr.write(`[build] pre-screen: ${bytes} bytes -> .build/prescreen/\n`);
}
