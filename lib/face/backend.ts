import { env, setBackend } from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

let starting: Promise<void> | undefined;

/**
 * Starts tfjs-core's WebAssembly backend on its SIMD build at `simdWasm` (a path in Node, a URL
 * in a browser), on one thread: a Lambda container and a phone's page have no cores to spare, and
 * the threaded build needs cross-origin isolation the capture page does not have. The backend
 * picks its binary by what the platform supports; only the SIMD one is shipped, so every name
 * points at it and a platform without SIMD fails to start (and goes without face detection).
 * `usePlatformFetch` has the binary fetched through tfjs-core's platform (see the capture page's
 * detector worker), not by the backend's own loader. Started once per realm: later calls get the
 * first call's start, whatever path they name.
 */
export function startWasmBackend(simdWasm: string, usePlatformFetch = false): Promise<void> {
  // tfjs-core keeps one engine per realm, and a second start while the first is under way fails:
  // every caller (two functions in one `npm start` process) shares the first; a failed one may be retried.
  starting ??= start(simdWasm, usePlatformFetch).catch((error: unknown) => {
    starting = undefined;
    throw error;
  });
  return starting;
}

async function start(simdWasm: string, usePlatformFetch: boolean): Promise<void> {
  env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  setWasmPaths(
    { 'tfjs-backend-wasm.wasm': simdWasm, 'tfjs-backend-wasm-simd.wasm': simdWasm, 'tfjs-backend-wasm-threaded-simd.wasm': simdWasm },
    usePlatformFetch,
  );
  if (!(await setBackend('wasm'))) throw new Error('the WebAssembly backend of TensorFlow.js could not start');
}
