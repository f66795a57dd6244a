/**
 * Builds the capture page (web/capture) into one HTML document with its script and styles inline,
 * written to .build/capture-page.json together with the SHA-256 hashes the page's
 * Content-Security-Policy allows them by, and its sizes. functions/capture-page.ts serves it.
 *
 * Beside it, in .build/capture-assets/, the page's face detector, a separate download the page
 * starts once it is usable: the worker script (tfjs-core's base, the WebAssembly backend with the
 * kernels BlazeFace uses, the detector), BlazeFace's graph and weights from Human's package with
 * the weights stored as float16 (they are float16 values: the conversion loses nothing, which the
 * build checks), and tfjs-core's SIMD WebAssembly binary. Their names carry a hash of their
 * content, so they are cached for good; functions/capture-assets.ts serves them.
 *
 * Nothing generated is committed: `npm start`, `npm test`, `npm run typecheck` and `npm run bench`
 * run this first (their pre-scripts), and deploy/capture-page.cjs runs it before `serverless
 * package`, `deploy` and `invoke local`, so a fresh clone builds it whichever way it starts.
 *
 *   node scripts/build-capture-page.ts
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Plugin } from 'esbuild';
import { FACE_FILES } from '../lib/face/files.ts';
import type { GraphModelJson } from '../lib/face/graph.ts';
import { TEXTS } from '../web/capture/texts.ts';

/** What functions/capture-page.ts serves. */
export interface CapturePage {
  html: string;
  /** CSP source expressions (`'sha256-...'`) of the inline script and style. */
  scriptHash: string;
  styleHash: string;
  bytes: number;
  gzipBytes: number;
  /** The detector's files in .build/capture-assets/, by name, and what they weigh. */
  assets: Record<string, { contentType: string; bytes: number; gzipBytes: number }>;
  /** The detector worker's file name, which the page's script names. */
  detectorWorker: string;
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const source = (path: string) => fileURLToPath(new URL(`../web/capture/${path}`, import.meta.url));
export const CAPTURE_PAGE_FILE = fileURLToPath(new URL('../.build/capture-page.json', import.meta.url));
export const CAPTURE_ASSETS_DIR = fileURLToPath(new URL('../.build/capture-assets/', import.meta.url));

/** Browsers the page supports: those with getUserMedia, ImageBitmap and the CSS it uses. */
const TARGETS = ['chrome100', 'edge100', 'firefox100', 'safari15', 'ios15'];

const escapeHtml = (value: string): string =>
  value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

const cspHash = (content: string): string => `'sha256-${createHash('sha256').update(content, 'utf8').digest('base64')}'`;

/**
 * What the detector worker and the WebAssembly backend take from '@tensorflow/tfjs-core': its base
 * modules without the index (which registers gradients, chained ops and the training API) and
 * without the model save/load routers (HTTP, files, model management), of which the detector uses
 * only the weight decoder. esbuild fails the build if anything imports a name missing here.
 */
const TFJS_CORE_FOR_DETECTOR = [
  "export * from '@tensorflow/tfjs-core/dist/ops/ops';",
  "export * from '@tensorflow/tfjs-core/dist/globals';",
  "export * from '@tensorflow/tfjs-core/dist/kernel_registry';",
  "export * from '@tensorflow/tfjs-core/dist/kernel_names';",
  "export { env } from '@tensorflow/tfjs-core/dist/environment';",
  "export { KernelBackend, DataStorage } from '@tensorflow/tfjs-core/dist/backends/backend';",
  "export * as backend_util from '@tensorflow/tfjs-core/dist/backends/backend_util';",
  "export * as kernel_impls from '@tensorflow/tfjs-core/dist/backends/kernel_impls';",
  "export * as util from '@tensorflow/tfjs-core/dist/util';",
  "import { decodeWeights } from '@tensorflow/tfjs-core/dist/io/io_utils';",
  'export const io = { decodeWeights };',
].join('\n');

/**
 * For the detector worker: the part of tfjs-core above, the WebAssembly backend's base instead of
 * its index (which registers all of its kernels), and no threaded glue (the page is not
 * cross-origin isolated, so the backend can never choose it; startWasmBackend also turns it off).
 * tfjs's recipe for custom bundles, taken a step further: the script goes from 139 KB (tfjs-core,
 * the backend and tfjs-converter) to about 52 KB gzipped.
 */
const detectorBundle: Plugin = {
  name: 'detector-bundle',
  setup(esbuild) {
    esbuild.onResolve({ filter: /^@tensorflow\/tfjs-core$/ }, () => ({ path: 'tfjs-core', namespace: 'detector-tfjs-core' }));
    esbuild.onLoad({ filter: /.*/, namespace: 'detector-tfjs-core' }, () => ({ contents: TFJS_CORE_FOR_DETECTOR, resolveDir: repoRoot }));
    esbuild.onResolve({ filter: /^@tensorflow\/tfjs-backend-wasm$/ }, (args) =>
      esbuild.resolve('@tensorflow/tfjs-backend-wasm/dist/base', { kind: args.kind, resolveDir: args.resolveDir }));
    esbuild.onResolve({ filter: /tfjs-backend-wasm-threaded-simd(\.worker)?\.js$/ }, (args) => ({ path: args.path, namespace: 'unused-threads' }));
    esbuild.onLoad({ filter: /.*/, namespace: 'unused-threads' }, (args) => ({
      contents: args.path.includes('.worker')
        ? 'export const wasmWorkerContents = "";'
        : 'export default function () { throw new Error("the threaded WebAssembly backend is not shipped"); }',
    }));
  },
};

async function bundle(entry: string, define: Record<string, string> = {}, plugins: Plugin[] = []): Promise<string> {
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints: [source(entry)],
    bundle: true,
    minify: true,
    format: 'iife',
    target: TARGETS,
    legalComments: 'none',
    charset: 'utf8',
    write: false,
    logLevel: 'silent',
    define,
    plugins,
  });
  const output = result.outputFiles[0]?.text;
  if (output === undefined) throw new Error(`esbuild wrote nothing for ${entry}`);
  return output.trim();
}

/** `name-<first 12 hex digits of its SHA-256>.ext`: a new name whenever the content changes. */
function hashedName(stem: string, extension: string, content: Uint8Array | string): string {
  return `${stem}-${createHash('sha256').update(content).digest('hex').slice(0, 12)}.${extension}`;
}

/**
 * BlazeFace's model with its float32 weights stored as float16 (tfjs's `quantization`, which
 * tfjs-core's decoder reads): half the bytes. Throws if any weight would change.
 */
function float16Model(): { model: GraphModelJson; weights: Uint8Array } {
  const model = JSON.parse(readFileSync(FACE_FILES.model, 'utf8')) as GraphModelJson & { weightsManifest: Array<{ paths: string[] }> };
  const original = readFileSync(FACE_FILES.weights);
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const group of model.weightsManifest) {
    for (const weight of group.weights) {
      const count = weight.shape.reduce((product, size) => product * size, 1);
      const bytes = original.subarray(offset, offset + count * 4);
      offset += count * 4;
      if (weight.dtype !== 'float32' || weight.quantization !== undefined) {
        parts.push(bytes);
        continue;
      }
      const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      const halves = Float16Array.from(values);
      if (halves.some((half, index) => half !== values[index])) throw new Error(`weight ${weight.name} is not exactly float16`);
      parts.push(new Uint8Array(halves.buffer));
      weight.quantization = { dtype: 'float16', original_dtype: 'float32' } as never;
    }
  }
  if (offset !== original.byteLength) throw new Error('the weights file does not match its manifest');
  // Only what lib/face/graph.ts reads: the operations (constants come from the manifest) and their attributes.
  const nodes = model.modelTopology.node
    .filter((node) => node.op !== 'Const')
    .map((node) => ({ ...node, attr: Object.fromEntries(Object.entries(node.attr ?? {}).filter(([name]) => GRAPH_ATTRIBUTES.has(name))) }));
  return { model: { modelTopology: { node: nodes }, weightsManifest: model.weightsManifest }, weights: Buffer.concat(parts) };
}

const GRAPH_ATTRIBUTES = new Set(['padding', 'strides', 'dilations', 'ksize', 'data_format', 'fused_ops']);

const gzipSize = (content: Uint8Array | string): number => gzipSync(content, { level: 9 }).byteLength;

/** The detector's files, written to CAPTURE_ASSETS_DIR; returns their names and sizes. */
async function buildDetector(): Promise<{ assets: CapturePage['assets']; worker: string }> {
  const { model, weights } = float16Model();
  const wasm = readFileSync(FACE_FILES.wasm);
  const weightsName = hashedName('blazeface', 'bin', weights);
  for (const group of model.weightsManifest) group.paths = [weightsName];
  const modelText = JSON.stringify(model);
  const files = { model: hashedName('blazeface', 'json', modelText), weights: weightsName, wasm: hashedName('tfjs-backend-wasm-simd', 'wasm', wasm) };
  const script = await bundle('detector-worker.ts', { DETECTOR_FILES: JSON.stringify(files) }, [detectorBundle]);
  const worker = hashedName('detector', 'js', script);
  const contents: Array<[string, string | Uint8Array, string]> = [
    [worker, script, 'text/javascript; charset=utf-8'],
    [files.model, modelText, 'application/json'],
    [files.weights, weights, 'application/octet-stream'],
    [files.wasm, wasm, 'application/wasm'],
  ];
  rmSync(CAPTURE_ASSETS_DIR, { recursive: true, force: true });
  mkdirSync(CAPTURE_ASSETS_DIR, { recursive: true });
  const assets: CapturePage['assets'] = {};
  for (const [name, content, contentType] of contents) {
    writeFileSync(`${CAPTURE_ASSETS_DIR}${name}`, content);
    assets[name] = { contentType, bytes: Buffer.byteLength(content), gzipBytes: gzipSize(content) };
  }
  return { assets, worker };
}

export async function buildCapturePage(): Promise<CapturePage> {
  const detector = await buildDetector();
  const [script, style] = await Promise.all([bundle('main.ts', { DETECTOR_WORKER: JSON.stringify(detector.worker) }), bundle('styles.css')]);
  // Inline content must not be able to close its own element.
  if (/<\/script/i.test(script) || /<\/style/i.test(style)) throw new Error('the bundle contains a closing tag');
  const template = readFileSync(source('index.html'), 'utf8');
  const texts: Readonly<Record<string, string>> = TEXTS;
  const html = template
    // One line: the markup's indentation is for its readers only.
    .replace(/>\s*\n\s*/g, '>')
    .replace(/\s*\n\s*</g, '<')
    .replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
      const value = texts[key];
      if (value === undefined) throw new Error(`web/capture/index.html names {{${key}}}, which texts.ts does not have`);
      return escapeHtml(value);
    })
    .replace('<!--style-->', () => `<style>${style}</style>`)
    .replace('<!--script-->', () => `<script>${script}</script>`);
  return {
    html,
    scriptHash: cspHash(script),
    styleHash: cspHash(style),
    bytes: Buffer.byteLength(html),
    gzipBytes: gzipSize(html),
    assets: detector.assets,
    detectorWorker: detector.worker,
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const page = await buildCapturePage();
  mkdirSync(new URL('../.build/', import.meta.url), { recursive: true });
  writeFileSync(CAPTURE_PAGE_FILE, `${JSON.stringify(page)}\n`);
  process.stderr.write(`[build] capture page: ${page.bytes} bytes, ${page.gzipBytes} gzipped -> .build/capture-page.json\n`);
  const detector = Object.values(page.assets);
  const sum = (key: 'bytes' | 'gzipBytes') => detector.reduce((total, asset) => total + asset[key], 0);
  process.stderr.write(`[build] face detector: ${detector.length} files, ${sum('bytes')} bytes, ${sum('gzipBytes')} gzipped -> .build/capture-assets/\n`);
}
