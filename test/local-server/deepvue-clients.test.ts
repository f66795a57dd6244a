import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureImage } from '../support/relay.ts';
import { SAMPLES, samplesRequired, skipNotice } from '../support/deepvue-samples.ts';
import { startLocalServer, type LocalServer } from '../support/local-server.ts';
import { decodeJpeg, encodeJpeg, placed } from '../support/pictures.ts';
import { startTlsFront, type TlsFront } from '../support/tls-front.ts';

/**
 * Code written for Deepvue, pointed at `npm start`: POST /v1/authorize answered as Deepvue does
 * (from the mock integration's templates, as API Gateway would), and Deepvue's own request
 * samples (test/fixtures/deepvue/samples/) run by their own interpreters with only the base URL,
 * the key and the image changed. A sample whose interpreter is missing is skipped, saying why
 * (here and after the run's summary), unless DEEPVUE_SAMPLES=required or CI=true: .ci/run
 * installs Go and Ruby and requires all five.
 */
const SAMPLES_DIR = new URL('../fixtures/deepvue/samples/', import.meta.url);
const DEEPVUE_BASE_URL = 'https://production.deepvue.tech';
const KEY_PLACEHOLDER = 'YOUR_API_KEY';
const IMAGE_PLACEHOLDER = 'example_string';
/** The relay's API key in the samples (npm start takes any): a marker that must never be printed. */
const KEY = 'relay-api-key-0f5e2c7a91';

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
  for (const sample of SAMPLES) {
    it(`${sample.language}: ${sample.file}`, async (context) => {
      const path = join(workDir, sample.file);
      const command = sample.command(path);
      if (typeof command === 'string') {
        const reason = skipNotice(sample, command);
        if (samplesRequired) throw new Error(reason.replace('SKIPPED', 'cannot run'));
        context.skip(reason);
        return;
      }
      const text = readFileSync(new URL(sample.file, SAMPLES_DIR), 'utf8');
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
