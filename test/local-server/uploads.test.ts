import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startLoadTarget, type LoadTarget } from '../../bench/load.ts';
import { findRunningStack, type RunningStack } from '../../scripts/local/state.ts';
import { CHECK, faults } from '../support/deepvue-emulator.ts';
import type { LocalServer } from '../support/local-server.ts';
import { fixtureImage } from '../support/relay.ts';
import { localS3Config } from '../support/s3rver.ts';

/**
 * The upload path on one machine, through `npm start`: its embedded S3 server, whose object
 * events go through the local upload queue to the same s3Upload handler, relaying to the Deepvue
 * emulator; results read back over HTTP. Failed checks come back after 1 s here, and the third
 * receive is the last.
 */
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const PHOTO = fixtureImage('spoof-printed-photo.jpg');

let target: LoadTarget;
let server: LocalServer;
let stack: RunningStack & { s3: NonNullable<RunningStack['s3']> };
let s3: S3Client;

beforeAll(async () => {
  target = await startLoadTarget({}, { LOCAL_UPLOAD_RETRY_SECONDS: '1', UPLOAD_MAX_RECEIVE_COUNT: '3' });
  server = target.server;
  const found = await findRunningStack(repoRoot, Number(new URL(server.url).port));
  if (found?.s3 === undefined) throw new Error('npm start left no state file with its embedded S3');
  stack = { ...found, s3: found.s3 };
  s3 = new S3Client(localS3Config(stack.s3.endpoint));
}, 120_000);
afterAll(async () => {
  s3?.destroy();
  await target?.stop();
});
beforeEach(() => target.deepvue.clearCalls());

async function resultOf(key: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await server.request(`/v1/liveness-results/${encodeURIComponent(key)}`);
  return { status: answer.status, body: answer.body as Record<string, unknown> };
}

/** The stored result of `key`, once there is one. */
async function settled(key: string): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await expect.poll(async () => {
    const { status, body } = await resultOf(key);
    if (status === 200) found = body;
    return status;
  }, { timeout: 20_000, interval: 200 }).toBe(200);
  return found!;
}

const put = (key: string, body: Uint8Array = PHOTO) => s3.send(new PutObjectCommand({ Bucket: stack.s3.bucket, Key: key, Body: body }));

describe('npm start: uploads checked on one machine', () => {
  it('deletes each image once checked, and lists and serves both erasure routes: the result erased, then 404', async () => {
    for (const path of ['/v1/liveness-results/{key+}', '/v1/liveness-sessions/{id}']) {
      await server.printed(`DELETE ${server.url}${path}  → livenessErasure`, 1000);
    }
    await put('uploads/erase-me.jpg');
    expect(await settled('uploads/erase-me.jpg')).toMatchObject({ status: 'COMPLETED' });
    await expect.poll(() => s3.send(new HeadObjectCommand({ Bucket: stack.s3.bucket, Key: 'uploads/erase-me.jpg' })).then(() => 'held', () => 'deleted')).toBe('deleted');

    const erased = await server.request(`/v1/liveness-results/${encodeURIComponent('uploads/erase-me.jpg')}`, { method: 'DELETE' });
    expect({ status: erased.status, body: erased.body }).toEqual({ status: 200, body: { erased: { result: true, image_versions: 0, digests: 0 }, erased_at: expect.any(String) } });
    expect((await resultOf('uploads/erase-me.jpg')).status).toBe(404);
    expect((await server.request(`/v1/liveness-results/${encodeURIComponent('uploads/erase-me.jpg')}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('npm run upload uses the running stack: the result is then read from it', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['scripts/upload.ts', 'test/fixtures/images/face.png', 'walkthrough.png'], {
      cwd: repoRoot,
      env: { ...process.env, PORT: new URL(server.url).port },
      timeout: 60_000,
    });
    expect(stderr).toContain(`to the npm start stack on ${server.url}`);
    const printed = JSON.parse(stdout.slice(stdout.indexOf('{\n'))) as { result: Record<string, unknown>; image: Record<string, unknown> };
    expect(printed.result).toMatchObject({ key: 'uploads/walkthrough.png', status: 'COMPLETED', result: { sub_code: 'SUCCESS', data: { is_live: true } } });
    expect(printed.image).toEqual({ deleted: true });
    expect((await resultOf('uploads/walkthrough.png')).body).toEqual(printed.result);
    expect(target.deepvue.calls(CHECK)).toHaveLength(1);
  });

  it('takes a browser’s form upload from its own origin (CORS), and checks it', async () => {
    const bucketUrl = `${stack.s3.endpoint}/${stack.s3.bucket}`;
    const origin = server.url;
    const preflight = await fetch(bucketUrl, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    const stranger = await fetch(bucketUrl, { method: 'OPTIONS', headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'POST' } });
    expect(stranger.status).toBe(403);

    const form = new FormData();
    form.set('key', 'uploads/from-browser.jpg');
    form.set('Content-Type', 'image/jpeg');
    form.set('file', new Blob([PHOTO], { type: 'image/jpeg' }), 'selfie.jpg');
    const upload = await fetch(bucketUrl, { method: 'POST', body: form, headers: { origin } });
    expect(upload.status).toBe(204);
    expect(upload.headers.get('access-control-allow-origin')).toBe(origin);

    expect(await settled('uploads/from-browser.jpg')).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
  });

  it('returns a failed check to the queue and checks it again on the next receive', async () => {
    target.deepvue.inject(CHECK, faults.unavailable(), 2);
    await put('uploads/retried.jpg');
    expect(await settled('uploads/retried.jpg')).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
    expect(target.deepvue.calls(CHECK)).toHaveLength(3);
  });

  it('records FAILED on the last receive, then moves the message to the dead-letter queue', async () => {
    target.deepvue.inject(CHECK, faults.unavailable(), 3);
    await put('uploads/given-up.jpg');
    expect(await settled('uploads/given-up.jpg')).toMatchObject({ status: 'FAILED', result: { sub_code: 'UPSTREAM_UNAVAILABLE' } });
    expect(target.deepvue.calls(CHECK)).toHaveLength(3);
    await server.printed(/moved to the dead-letter queue after 3 receives/, 5000);
  });

  it('checks only what the bucket notifies, as deployed: images under the upload prefix', async () => {
    await put('uploads/notes.gif');
    await put('elsewhere/selfie.jpg');
    await put('uploads/last.png', fixtureImage('face.png'));
    // The last upload shows the queue at work; the two before it never reached it.
    expect(await settled('uploads/last.png')).toMatchObject({ status: 'COMPLETED' });
    expect((await resultOf('uploads/notes.gif')).status).toBe(404);
    expect((await resultOf('elsewhere/selfie.jpg')).status).toBe(404);
    expect(target.deepvue.calls(CHECK)).toHaveLength(1);
  });
});
