/**
 * The pre-screen itself: finds the faces in a decoded picture and says whether it can be worth a
 * paid liveness check. Heavy (TensorFlow.js, its WebAssembly backend, the BlazeFace model, the
 * image decoders of ./decode.ts, exported from here), so no function bundles it: deployed it is a
 * package of its own beside the bundle (scripts/build-prescreen.ts), imported by
 * lib/prescreen/loader.ts only when PRESCREEN=on.
 *
 * It answers about faces only, never about liveness: a printed photo of a face passes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DecodedPixels } from '../check/pixels.ts';
import { FaceDetector } from '../face/blazeface.ts';
import { startWasmBackend } from '../face/backend.ts';
import { FACE_FILES } from '../face/files.ts';
import type { GraphModelJson } from '../face/graph.ts';
import { detectorInput, letterboxPixels, toPicture } from '../face/letterbox.ts';
import { faceSize, isCutOff } from '../face/rules.ts';
import { MIN_FACE_PIXELS, MIN_FACE_SHARE } from './limits.ts';

export { decodePixels } from './decode.ts';

export type ScreenFinding = 'pass' | 'no-face' | 'several-faces' | 'cut-off' | 'too-small';

export interface ScreenResult {
  finding: ScreenFinding;
  faces: number;
  /** The face's box as a share of the picture's short side, when there is one face. */
  faceSize?: number;
  /** Letterboxing and detection. */
  detectMs: number;
}

export interface ScreenFiles {
  model: string;
  weights: string;
  wasm: string;
}

/** Built (scripts/build-prescreen.ts), the files lie beside this module; from the sources, where npm installed them. */
function defaultFiles(): ScreenFiles {
  const beside = (name: string) => fileURLToPath(new URL(`./${name}`, import.meta.url));
  return existsSync(beside('blazeface.json'))
    ? { model: beside('blazeface.json'), weights: beside('blazeface.bin'), wasm: beside('tfjs-backend-wasm-simd.wasm') }
    : FACE_FILES;
}

/**
 * @example
 * const faces = await createFaceScreen();
 * const { finding } = faces.screen(pixels); // 'pass', 'no-face', 'several-faces', 'cut-off' or 'too-small'
 */
export async function createFaceScreen(files: ScreenFiles = defaultFiles()): Promise<FaceScreen> {
  await startWasmBackend(files.wasm);
  const model = JSON.parse(readFileSync(files.model, 'utf8')) as GraphModelJson;
  const weights = readFileSync(files.weights);
  return new FaceScreen(FaceDetector.load(model, weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength)));
}

export class FaceScreen {
  readonly #detector: FaceDetector;

  constructor(detector: FaceDetector) {
    this.#detector = detector;
  }

  /** The picture upright (its EXIF orientation applied), letterboxed and searched for faces. */
  screen(pixels: DecodedPixels): ScreenResult {
    const started = performance.now();
    const { rgba, box } = letterboxPixels(pixels, pixels.orientation);
    const faces = this.#detector.detect(detectorInput(rgba)).map((face) => toPicture(face, box));
    const times = { detectMs: performance.now() - started };
    const [face] = faces;
    if (face === undefined) return { finding: 'no-face', faces: 0, ...times };
    if (faces.length > 1) return { finding: 'several-faces', faces: faces.length, ...times };
    const picture = { width: box.width, height: box.height };
    const size = faceSize(face, picture);
    const side = Math.max(face.right - face.left, face.bottom - face.top);
    const finding: ScreenFinding = isCutOff(face, picture) ? 'cut-off' : size < MIN_FACE_SHARE || side < MIN_FACE_PIXELS ? 'too-small' : 'pass';
    return { finding, faces: 1, faceSize: size, ...times };
  }
}
