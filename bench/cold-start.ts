import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';
import { median } from './stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Options serverless-esbuild reads itself and removes before calling esbuild (its bundle.js). */
const PLUGIN_ONLY_OPTIONS = [
  'concurrency', 'zipConcurrency', 'exclude', 'nativeZip', 'packager', 'packagePath', 'watch', 'keepOutputDirectory',
  'packagerOptions', 'installExtraArgs', 'outputFileExtension', 'outputBuildFolder', 'outputWorkFolder', 'nodeExternals',
  'skipBuild', 'skipRebuild', 'skipBuildExcludeFns', 'stripEntryResolveExtensions', 'disposeContext', 'config',
];

interface ServiceConfig {
  provider: { environment?: Record<string, string> };
  custom: { esbuild: Record<string, unknown> };
  functions: Record<string, { handler: string; environment?: Record<string, string> }>;
}

export interface BundledFunction {
  name: string;
  /** The module Lambda imports (the handler's). */
  file: string;
  /** Code of the function: its module and every chunk beside it (source maps not counted). */
  bytes: number;
  /** What a cold start loads before the first request: the module and the chunks it imports statically. */
  startBytes: number;
  environment: Record<string, string>;
  /** The files esbuild put into the module and its chunks, relative to the repository (`node_modules/undici/...`). */
  inputs: string[];
}

/** serverless.yml as the framework resolves it (variables, params), so the bench bundles what `serverless package` bundles. */
function serviceConfig(root: string): ServiceConfig {
  const printed = spawnSync(process.execPath, [join(root, 'node_modules/.bin/serverless'), 'print', '--format', 'json'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (printed.status !== 0) throw new Error(`serverless print failed: ${printed.stderr}`);
  const config = JSON.parse(printed.stdout) as ServiceConfig;
  if (typeof config.custom?.esbuild !== 'object' || typeof config.functions !== 'object') {
    throw new Error('serverless.yml has no custom.esbuild or no functions');
  }
  return config;
}

/** The esbuild options serverless-esbuild derives from `custom.esbuild` of the service in `root`. */
function esbuildOptions(custom: Record<string, unknown>, root: string): BuildOptions {
  const options: Record<string, unknown> = Object.fromEntries(Object.entries(custom).filter(([key]) => !PLUGIN_ONLY_OPTIONS.includes(key)));
  // serverless-esbuild requires `plugins`, a file relative to the service, for its list of plugins.
  if (typeof custom.plugins === 'string') options.plugins = createRequire(join(root, 'package.json'))(join(root, custom.plugins)) as unknown;
  const list = (value: unknown): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);
  const exclude = list(custom.exclude);
  options.external = [...list(custom.external), ...(exclude.includes('*') ? [] : exclude)];
  const extension = typeof custom.outputFileExtension === 'string' ? custom.outputFileExtension : '.js';
  if (extension !== '.js') options.outExtension = { '.js': extension };
  // esbuild itself rejects any option it does not know, so a mismatch cannot pass unnoticed.
  return options as BuildOptions;
}

/** The esbuild options the functions of the service in `root` are bundled with. */
export function functionBuildOptions(root = ROOT): BuildOptions {
  return esbuildOptions(serviceConfig(root).custom.esbuild, root);
}

/** Bundles one entry module as `serverless package` bundles a function's, into `outdir`. */
async function bundleEntry(options: BuildOptions, root: string, entry: string, outdir: string, name: string, environment: Record<string, string>): Promise<BundledFunction> {
  const { metafile } = await build({ ...options, absWorkingDir: root, entryPoints: [entry], outdir, metafile: true, logLevel: 'error' });
  const code = Object.entries(metafile.outputs).filter(([output]) => !output.endsWith('.map'));
  const file = code.find(([, output]) => output.entryPoint === entry)?.[0];
  if (file === undefined) throw new Error(`esbuild wrote no bundle for ${name}`);
  const loadedAtStart = new Set<string>();
  const load = (output: string): void => {
    if (loadedAtStart.has(output)) return;
    loadedAtStart.add(output);
    for (const imported of metafile.outputs[output]?.imports ?? []) if (imported.kind === 'import-statement' && imported.path in metafile.outputs) load(imported.path);
  };
  load(file);
  const sizeOf = (outputs: string[]) => outputs.reduce((sum, output) => sum + statSync(join(root, output)).size, 0);
  return {
    name,
    file: join(root, file),
    bytes: sizeOf(code.map(([output]) => output)),
    startBytes: sizeOf([...loadedAtStart]),
    environment,
    inputs: [...new Set(code.flatMap(([, output]) => Object.keys(output.inputs)))],
  };
}

/**
 * Bundles every function of serverless.yml into `outdir` exactly as `serverless package` would;
 * `root` is the service (by default this checkout; bench/cold-start-steps.ts passes older ones).
 */
export async function bundleFunctions(outdir: string, root = ROOT): Promise<BundledFunction[]> {
  const config = serviceConfig(root);
  const options = esbuildOptions(config.custom.esbuild, root);
  const bundled: BundledFunction[] = [];
  for (const [name, definition] of Object.entries(config.functions)) {
    const entry = `${definition.handler.slice(0, definition.handler.lastIndexOf('.'))}.ts`;
    bundled.push(await bundleEntry(options, root, entry, join(outdir, name), name, { ...config.provider.environment, ...definition.environment }));
  }
  return bundled;
}

/**
 * bench/libraries-alone.ts bundled as the functions are, with livenessCheck's environment: what
 * the libraries of a check's first request cost to import, without any code of ours.
 */
export async function bundleLibrariesAlone(outdir: string): Promise<BundledFunction> {
  const config = serviceConfig(ROOT);
  const environment = { ...config.provider.environment, ...config.functions.livenessCheck?.environment };
  return bundleEntry(esbuildOptions(config.custom.esbuild, ROOT), ROOT, 'bench/libraries-alone.ts', join(outdir, 'librariesAlone'), 'the libraries alone', environment);
}

/** Imports `file` in a fresh process as the Lambda runtime would load the handler, and exits. */
const IMPORT_AND_EXIT = 'await import(process.argv[1]); process.exit(0);';

export interface ImportTimes {
  /** Median wall-clock time of a fresh Node process that imports the bundle and exits, per bundle (in order). */
  startMs: number[];
  /** Every run of each bundle, for the spread. */
  runs: number[][];
  /**
   * The same for an empty module, Node's own start, run with the bundle's NODE_OPTIONS: the
   * baseline of each bundle.
   */
  emptyMs: number[];
}

/**
 * The time a fresh Node process takes to import each bundle, against one that imports an empty
 * module; rounds alternate between the modules so that a busy moment of the machine is shared by
 * all. The environment is the function's own from serverless.yml (plain strings), with
 * placeholder AWS credentials and every AWS endpoint on a closed loopback port: nothing is called
 * while importing, and nothing could leave the machine if it were.
 */
export function measureImports(bundles: BundledFunction[], rounds: number): ImportTimes {
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-empty-'));
  try {
    const empty = join(dir, 'empty.mjs');
    writeFileSync(empty, '');
    const startOf = (file: string, environment: Record<string, string>): number => {
      const started = performance.now();
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', IMPORT_AND_EXIT, file], {
        env: {
          ...environment,
          AWS_REGION: 'us-east-1',
          AWS_LAMBDA_FUNCTION_NAME: 'bench',
          AWS_ACCESS_KEY_ID: 'bench',
          AWS_SECRET_ACCESS_KEY: 'bench',
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const elapsed = performance.now() - started;
      if (run.status !== 0) throw new Error(`importing ${file} failed: ${run.stderr.toString()}`);
      return elapsed;
    };
    // Node's own start uses the flags the functions run with (NODE_OPTIONS), so both sides pay for them.
    const flagsOf = (bundle: BundledFunction) => bundle.environment.NODE_OPTIONS ?? '';
    const emptyRuns = new Map(bundles.map((bundle): [string, number[]] => [flagsOf(bundle), []]));
    const runs = bundles.map((): number[] => []);
    for (let round = 0; round < rounds; round += 1) {
      for (const [flags, times] of emptyRuns) times.push(startOf(empty, { NODE_OPTIONS: flags }));
      bundles.forEach((bundle, index) => runs[index]?.push(startOf(bundle.file, bundle.environment)));
    }
    return {
      startMs: runs.map((times) => median(times)),
      runs,
      emptyMs: bundles.map((bundle) => median(emptyRuns.get(flagsOf(bundle)) ?? [])),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
