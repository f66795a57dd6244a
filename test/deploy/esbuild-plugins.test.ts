import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { functionBuildOptions } from '../../bench/cold-start.ts';

/**
 * deploy/esbuild-plugins.cjs, through the options serverless.yml bundles the functions with (its
 * plugins, banner, format); one file each, without the functions' chunks.
 */
const options = { ...functionBuildOptions(), splitting: false };
const dir = mkdtempSync(join(tmpdir(), 'relay-esbuild-plugins-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let bundled = 0;
/** Bundles `source` as the functions are bundled, runs it in a fresh Node, and returns what it printed. */
async function bundleAndRun(source: string, env: Record<string, string> = {}): Promise<string> {
  bundled += 1;
  const outdir = join(dir, `bundle-${bundled}`);
  await build({
    ...options,
    stdin: { contents: source, resolveDir: fileURLToPath(new URL('../..', import.meta.url)), sourcefile: 'entry.mjs' },
    outdir,
    logLevel: 'silent',
  });
  return execFileSync(process.execPath, [join(outdir, 'stdin.mjs')], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } }).trim();
}

describe('Node built-ins imported by bundled ES modules', () => {
  it('are the built-ins themselves, by default, named and namespace imports, and a class extends them', async () => {
    const printed = await bundleAndRun(`
      import { createRequire } from 'node:module';
      import http, { request } from 'node:http';
      import * as fs from 'node:fs';
      import { promises, ReadStream } from 'node:fs';
      import EventEmitter from 'events';
      import { getRandomValues } from 'node:crypto';
      const real = (name) => createRequire(import.meta.url)(name);
      class Emitter extends EventEmitter {}
      let heard = false;
      new Emitter().on('x', () => { heard = true; }).emit('x');
      console.log(JSON.stringify([
        http === real('node:http'), request === real('node:http').request, fs.readFileSync === real('node:fs').readFileSync,
        promises === real('node:fs').promises, ReadStream === real('node:fs').ReadStream,
        typeof getRandomValues, heard,
      ]));
    `);
    expect(JSON.parse(printed)).toEqual([true, true, true, true, true, 'function', true]);
  });

  it('leave lazy getters unread: node:http does not load Node’s own undici (its WebSocket)', async () => {
    const printed = await bundleAndRun(`
      import http from 'node:http';
      import { Agent } from 'node:https';
      new Agent();
      console.log(typeof http.request, process.moduleLoadList.some((name) => name.includes('deps/undici')));
    `);
    expect(printed).toBe('function false');
  });

  it('fail the build when a getter not meant to be read at load is imported by name, or a namespace member does not exist', async () => {
    await expect(bundleAndRun(`import { WebSocket } from 'node:http'; console.log(typeof WebSocket);`)).rejects.toThrow(/No matching export .* for import "WebSocket"/);
    await expect(bundleAndRun(`import * as http from 'node:http'; console.log(typeof http.WebSocket);`)).rejects.toThrow(/WebSocket/);
  });
});

describe('modules left out of the bundles', () => {
  it('leave file-type’s ZIP reader its messages unprinted, without loading tty and supports-color, and it still recognises images', async () => {
    const jpeg = readFileSync(new URL('../fixtures/images/face-480p.jpg', import.meta.url)).toString('base64');
    const printed = await bundleAndRun(`
      import { fileTypeFromBuffer } from 'file-type';
      const zip = Buffer.from('504b0304140000000000000000000000000000000000000000000000000000', 'hex');
      const jpeg = Buffer.from('${jpeg}', 'base64');
      console.log((await fileTypeFromBuffer(jpeg))?.ext, (await fileTypeFromBuffer(zip))?.ext, process.moduleLoadList.some((name) => name.endsWith(' tty')));
    `);
    expect(printed).toBe('jpg zip false');
  });
});

describe('AWS credentials in the bundles', () => {
  const resolve = `
    import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
    try {
      const { accessKeyId, sessionToken } = await new DynamoDBClient({ region: 'us-east-1' }).config.credentials();
      console.log(accessKeyId, sessionToken);
    } catch (error) {
      console.log(error.message);
    }
  `;

  it('come from the environment, where Lambda puts the function role’s', async () => {
    expect(await bundleAndRun(resolve, { AWS_ACCESS_KEY_ID: 'AKIDROLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'token' })).toBe('AKIDROLE token');
  });

  it('come from nowhere else: without them, resolving fails saying so, even with a profile set', async () => {
    const printed = await bundleAndRun(resolve, { AWS_PROFILE: 'developer', HOME: dir });
    expect(printed).toMatch(/Unable to find environment variable credentials\. The function bundles read AWS credentials from the environment only/);
  });
});
