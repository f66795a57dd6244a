import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as undici from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleFunctions, type BundledFunction } from '../../../bench/cold-start.ts';

/**
 * lib/deepvue/undici.ts loads undici's Pool and `request` from undici's own files, not from the
 * package root. Those paths are not undici's public API: these tests fail, saying what to do,
 * when an upgrade moves or changes them, and prove the types declared for them
 * (lib/deepvue/undici-modules.d.ts) by identity with what the root exports.
 */
const { version } = JSON.parse(readFileSync(new URL('../../../node_modules/undici/package.json', import.meta.url), 'utf8')) as { version: string };

const MODULES = [
  { path: 'undici/lib/dispatcher/pool.js', exported: 'Pool', expected: () => undici.Pool },
  { path: 'undici/lib/api/api-request.js', exported: 'Dispatcher#request', expected: () => undici.Dispatcher.prototype.request },
];

describe(`undici ${version}: the modules the relay loads instead of the package root`, () => {
  it.each(MODULES)('finds $exported at $path, the very one the package root exports', async ({ path, exported, expected }) => {
    const loaded = await import(path).catch((error: unknown) => {
      throw new Error(`undici ${version} has no ${path} any more: find ${exported} again, then update lib/deepvue/undici.ts and undici-modules.d.ts`, { cause: error });
    }) as { default: unknown };
    expect(loaded.default, `${path} no longer is undici's ${exported}: update lib/deepvue/undici.ts and undici-modules.d.ts`).toBe(expected());
  });

  describe('in every function bundle', () => {
    let outdir: string;
    let bundles: BundledFunction[];
    beforeAll(async () => {
      outdir = mkdtempSync(join(tmpdir(), 'relay-undici-'));
      bundles = await bundleFunctions(outdir);
    }, 60_000);
    afterAll(() => rmSync(outdir, { recursive: true, force: true }));

    it('holds those two modules where Deepvue is called, and none of undici’s root, fetch, WebSocket, EventSource, cache, mock, interceptors, HTTP/2 client or its experimental milo parser', () => {
      const callers = bundles.filter((bundle) => bundle.inputs.includes('lib/deepvue/client.ts')).map((bundle) => bundle.name);
      expect(callers).toEqual(expect.arrayContaining(['livenessCheck', 's3Upload']));
      for (const bundle of bundles) {
        const undiciFiles = bundle.inputs.filter((input) => input.startsWith('node_modules/undici/'));
        if (callers.includes(bundle.name)) for (const { path } of MODULES) expect(undiciFiles, bundle.name).toContain(`node_modules/${path}`);
        const unused = undiciFiles.filter((input) =>
          input === 'node_modules/undici/index.js' || input === 'node_modules/undici/lib/dispatcher/client-h2.js' ||
          /^node_modules\/undici\/lib\/(web\/(fetch\/index|websocket|eventsource|cache)|mock|cache|interceptor|milo)\//.test(input));
        expect(unused, bundle.name).toEqual([]);
      }
    });
  });
});
