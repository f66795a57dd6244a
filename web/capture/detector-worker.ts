/**
 * The capture page's face detector, in a worker of its own so that the page stays responsive:
 * tfjs-core's base (no training, no chained ops), the WebAssembly backend with only the kernels
 * BlazeFace runs, and the model, all served by the stack beside this file (see
 * scripts/build-capture-page.ts, which names them in DETECTOR_FILES).
 */
import '@tensorflow/tfjs-core/dist/base_side_effects.js';
import { env, registerKernel } from '@tensorflow/tfjs-core';
import { addConfig } from '@tensorflow/tfjs-backend-wasm/dist/kernels/Add.js';
import { depthwiseConv2dNativeConfig } from '@tensorflow/tfjs-backend-wasm/dist/kernels/DepthwiseConv2dNative.js';
import { fusedConv2DConfig } from '@tensorflow/tfjs-backend-wasm/dist/kernels/FusedConv2D.js';
import { maxPoolConfig } from '@tensorflow/tfjs-backend-wasm/dist/kernels/MaxPool.js';
import { padV2Config } from '@tensorflow/tfjs-backend-wasm/dist/kernels/PadV2.js';
import { reluConfig } from '@tensorflow/tfjs-backend-wasm/dist/kernels/Relu.js';
import { reshapeConfig } from '@tensorflow/tfjs-backend-wasm/dist/kernels/Reshape.js';
import { startWasmBackend } from '../../lib/face/backend.ts';
import { FaceDetector } from '../../lib/face/blazeface.ts';
import type { GraphModelJson } from '../../lib/face/graph.ts';
import { detectorInput } from '../../lib/face/letterbox.ts';
import type { DetectorReply, DetectRequest } from './detector-protocol.ts';

/** File names (content-hashed, beside this script), set by the build. */
declare const DETECTOR_FILES: { model: string; weights: string; wasm: string };

interface WorkerScope {
  location: { href: string };
  postMessage(message: DetectorReply): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<DetectRequest>) => void): void;
}
const scope = globalThis as unknown as WorkerScope;
const reply = (message: DetectorReply) => scope.postMessage(message);
const beside = (name: string) => new URL(name, scope.location.href).href;

for (const kernel of [addConfig, depthwiseConv2dNativeConfig, fusedConv2DConfig, maxPoolConfig, padV2Config, reluConfig, reshapeConfig]) registerKernel(kernel);

/**
 * Binary files are fetched asking for `application/octet-stream`: API Gateway returns a Lambda's
 * base64 body as bytes only when the request's first Accept type is one of the API's binary
 * media types. tfjs-core's platform fetch is the one the backend uses for its binary when told to.
 */
async function fetchBinary(url: string): Promise<ArrayBuffer> {
  const response = await fetch(url, { headers: { accept: 'application/octet-stream' }, credentials: 'omit' });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.arrayBuffer();
}

async function load(): Promise<FaceDetector> {
  const platform = env().platform;
  platform.fetch = (path: string) => fetchBinary(path).then((body) => new Response(body));
  const [model, weights] = await Promise.all([
    fetch(beside(DETECTOR_FILES.model), { credentials: 'omit' }).then((response) => {
      if (!response.ok) throw new Error(`the model answered ${response.status}`);
      return response.json() as Promise<GraphModelJson>;
    }),
    fetchBinary(beside(DETECTOR_FILES.weights)),
    startWasmBackend(beside(DETECTOR_FILES.wasm), true),
  ]);
  return FaceDetector.load(model, weights);
}

const detector = load();
detector.then(
  () => reply({ type: 'ready' }),
  (error: unknown) => reply({ type: 'failed', reason: error instanceof Error ? error.message : String(error) }),
);

scope.addEventListener('message', (event) => {
  if (event.data.type !== 'detect') return;
  const pixels = new Uint8ClampedArray(event.data.pixels);
  detector.then(
    (faces) => reply({ type: 'faces', faces: faces.detect(detectorInput(pixels)) }),
    () => undefined,
  );
});
