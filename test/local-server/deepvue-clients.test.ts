import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureImage } from '../support/relay.ts';
import { startLocalServer, type LocalServer } from '../support/local-server.ts';
import { decodeJpeg, encodeJpeg, placed } from '../support/pictures.ts';
import { startTlsFront, type TlsFront } from '../support/tls-front.ts';

/**
 * Code written for Deepvue, pointed at `npm start`: POST /v1/authorize answered as Deepvue does
 * (from the mock integration's templates, as API Gateway would), and Deepvue's own request
 * samples (test/fixtures/deepvue/samples/) run by their own interpreters with only the base URL,
 * the key and the image changed. curl, python3 and node are always there; Go and Ruby skip,
 * saying why, where their toolchain is missing, unless DEEPVUE_SAMPLES=required (or CI=true),
 * which .ci/run sets after installing them.
 */
const SAMPLES = new URL('../fixtures/deepvue/samples/', import.meta.url);
const DEEPVUE_BASE_URL = 'https://production.deepvue.tech';
const KEY_PLACEHOLDER = 'YOUR_API_KEY';
const IMAGE_PLACEHOLDER = 'example_string';
/** The relay's API key in the samples (npm start takes any): a marker that must never be printed. */
const KEY = 'relay-api-key-0f5e2c7a91';
const required = process.env.DEEPVUE_SAMPLES === 'required' || process.env.CI === 'true';

let server: LocalServer;
let front: TlsFront;
let workDir: string;

beforeAll(async () => {
  server = await startLocalServer({ DEEPVUE_SECRET_ID: undefined, DEEPVUE_CLIENT_ID: undefined, DEEPVUE_CLIENT_SECRET: undefined });
  front = await startTlsFront(new URL(server.url));
  workDir = mkdtempSync(join(tmpdir(), 'liveness-relay-samples-'));
}, 120_000);
afterAll(async () => {
  await front?.close();
  await server?.stop();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

const authorize = (body: string | Buffer | undefined, contentType?: string) =>
  server.request('/v1/authorize', { method: 'POST', body, headers: contentType === undefined ? {} : { 'content-type': contentType } });

describe('POST /v1/authorize under npm start', () => {
  it('answers Deepvue’s form, multipart or urlencoded, with a bearer token and an expiry 24 hours on', async () => {
    const form = new FormData();
    form.append('client_id', 'acme');
    form.append('client_secret', KEY);
    const multipart = new Request('http://relay.invalid/', { method: 'POST', body: form });
    const answers = [
      await authorize(Buffer.from(await multipart.arrayBuffer()), multipart.headers.get('content-type') ?? ''),
      await authorize(new URLSearchParams({ client_id: 'acme', client_secret: KEY }).toString(), 'application/x-www-form-urlencoded'),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.headers).toMatchObject({ 'content-type': 'application/json', 'cache-control': 'no-store', 'x-request-id': expect.any(String) });
      const body = answer.body as { access_token: string; token_type: string; expiry: number };
      expect(body).toEqual({ access_token: expect.stringMatching(/^eyJ/), token_type: 'bearer', expiry: expect.any(Number) });
      expect(body.expiry - Date.now()).toBeGreaterThan(24 * 3600_000 - 60_000);
      expect(body.expiry - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
    }
  });

  it.for([
    ['a JSON body', JSON.stringify({ client_id: 'acme', client_secret: KEY }), 'application/json', 422, 'INVALID_REQUEST'],
    ['no body at all', undefined, undefined, 422, 'INVALID_REQUEST'],
    ['a form without client_secret', 'client_id=acme', 'application/x-www-form-urlencoded', 422, 'INVALID_REQUEST'],
    ['a form over 64 KiB', `client_id=acme&client_secret=${KEY}&pad=${'a'.repeat(65_536)}`, 'application/x-www-form-urlencoded', 413, 'PAYLOAD_TOO_LARGE'],
    ['another content type', `client_id=acme&client_secret=${KEY}`, 'text/plain', 415, 'INVALID_REQUEST'],
  ] as const)('answers %s with an envelope: %s', async ([, body, contentType, status, subCode]) => {
    const answer = await authorize(body, contentType);
    expect(answer.status).toBe(status);
    expect(answer.body).toMatchObject({ code: status, timestamp: expect.any(Number), sub_code: subCode, message: expect.any(String) });
    expect(answer.headers['x-request-id']).toEqual(expect.any(String));
  });

  it('logs that it was called and how it answered, nothing of what was sent', async () => {
    const marker = 'client-secret-marker-7d41b0';
    const answer = await authorize(`client_id=acme&client_secret=${marker}`, 'application/x-www-form-urlencoded');
    await server.printed(`POST /v1/authorize (request ${String(answer.headers['x-request-id'])}, mock integration): 200`);
    expect(server.output()).not.toContain(marker);
    expect(server.output()).not.toContain(KEY);
  });
});

interface Sample {
  file: string;
  language: string;
  /** The command that runs `path`, or why it cannot run here. */
  command(path: string): [string, string[]] | string;
  /** Whether what the program printed is a SUCCESS answer, as that language prints it. */
  succeeded(output: string): boolean;
  timeoutMs: number;
}

const runs = (command: string, args: string[]) => spawnSync(command, args, { stdio: 'ignore', timeout: 30_000 }).status === 0;
/** The first python3 that has `requests` (pyenv's, say, or Debian's python3-requests under /usr/bin). */
const pythonWithRequests = ['python3', '/usr/bin/python3'].find((python) => runs(python, ['-c', 'import requests']));
const sub = (output: string) => (JSON.parse(output) as { sub_code?: unknown }).sub_code;

const SAMPLE_LIST: Sample[] = [
  {
    file: 'liveness-check.sh',
    language: 'curl',
    command: (path) => (runs('curl', ['--version']) ? ['sh', [path]] : 'curl not found (apt-get install curl)'),
    succeeded: (output) => sub(output) === 'SUCCESS',
    timeoutMs: 60_000,
  },
  {
    file: 'liveness_check.py',
    language: 'Python requests',
    command: (path) => (pythonWithRequests === undefined ? 'no python3 with requests (apt-get install python3-requests)' : [pythonWithRequests, [path]]),
    succeeded: (output) => output.includes("'sub_code': 'SUCCESS'") && output.includes("'is_live': True"),
    timeoutMs: 60_000,
  },
  {
    file: 'liveness-check.mjs',
    language: 'JavaScript fetch',
    command: (path) => [process.execPath, [path]],
    succeeded: (output) => output.includes("sub_code: 'SUCCESS'") && output.includes('is_live: true'),
    timeoutMs: 60_000,
  },
  {
    file: 'liveness-check.go',
    language: 'Go net/http',
    command: (path) => (runs('go', ['version']) ? ['go', ['run', path]] : 'no Go toolchain (apt-get install golang-go)'),
    succeeded: (output) => output.trim() === 'Response Status: 200 OK',
    // A first `go run` compiles net/http: about a minute on two cores.
    timeoutMs: 240_000,
  },
  {
    file: 'liveness-check.rb',
    language: 'Ruby net/http',
    command: (path) => (runs('ruby', ['--version']) ? ['ruby', [path]] : 'no Ruby (apt-get install ruby)'),
    succeeded: (output) => sub(output) === 'SUCCESS',
    timeoutMs: 60_000,
  },
];

/** A small real photograph as base64 (a 320×180 JPEG of the face fixture): short enough for curl's command line. */
const imageBase64 = () => encodeJpeg(placed(decodeJpeg(fixtureImage('face-480p.jpg')), { width: 320, height: 180, scale: 0.375 }), 80).toString('base64');

function run(command: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: workDir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('Deepvue’s request samples, run against npm start with only the base URL, the key and the image changed', () => {
  for (const sample of SAMPLE_LIST) {
    it(`${sample.language}: ${sample.file}`, async (context) => {
      const path = join(workDir, sample.file);
      const command = sample.command(path);
      if (typeof command === 'string') {
        const reason = `Deepvue's ${sample.language} sample SKIPPED: ${command}`;
        if (required) throw new Error(reason.replace('SKIPPED', 'cannot run'));
        process.stderr.write(`\n*** ${reason} ***\n\n`);
        context.skip(reason);
        return;
      }
      const text = readFileSync(new URL(sample.file, SAMPLES), 'utf8');
      for (const placeholder of [DEEPVUE_BASE_URL, KEY_PLACEHOLDER, IMAGE_PLACEHOLDER]) expect(text, `${sample.file} has ${placeholder}`).toContain(placeholder);
      writeFileSync(path, text.replaceAll(DEEPVUE_BASE_URL, front.url).replaceAll(KEY_PLACEHOLDER, KEY).replaceAll(IMAGE_PLACEHOLDER, imageBase64()));

      const authorized = (server.output().match(/POST \/v1\/authorize \(request [^)]+\): 200/g) ?? []).length;
      const checked = server.checkRecords().length;
      const [executable, args] = command;
      // Go: no network for modules (the sample needs the standard library only), and no newer toolchain fetched.
      const result = await run(executable, args, { ...front.trustEnv, GOPROXY: 'off', GOTOOLCHAIN: 'local', GOFLAGS: '' }, sample.timeoutMs);
      expect(result.code, `${sample.file} exited with ${String(result.code)}:\n${result.stdout}\n${result.stderr}`).toBe(0);
      expect(sample.succeeded(result.stdout), `${sample.file} printed:\n${result.stdout}\n${result.stderr}`).toBe(true);
      // The relay saw it: one authorize call, then one check that succeeded.
      expect((server.output().match(/POST \/v1\/authorize \(request [^)]+\): 200/g) ?? []).length).toBe(authorized + 1);
      await expect.poll(() => server.checkRecords().slice(checked).map((record) => record.subCode)).toEqual(['SUCCESS']);
      expect(server.output()).not.toContain(KEY);
    }, sample.timeoutMs + 30_000);
  }
});
