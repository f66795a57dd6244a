import { fileURLToPath } from 'node:url';

const packaged = (path: string): string => fileURLToPath(new URL(`../../node_modules/${path}`, import.meta.url));

/**
 * The packaged files face detection runs on, where npm installs them: MediaPipe's BlazeFace as a
 * TensorFlow.js graph model from Human's npm package (MIT; its package exports no path to them,
 * hence the folder), and tfjs-core's WebAssembly backend built with SIMD. The capture page's
 * build and the pre-screen's layer copy them; `npm start` and the tests read them here.
 */
export const FACE_FILES = {
  model: packaged('@vladmandic/human/models/blazeface.json'),
  weights: packaged('@vladmandic/human/models/blazeface.bin'),
  modelLicence: packaged('@vladmandic/human/LICENSE'),
  wasm: packaged('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'),
} as const;
