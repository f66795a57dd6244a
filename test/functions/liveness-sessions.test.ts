import { createHash } from 'node:crypto';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SessionStore } from '../../lib/sessions/store.ts';
import { documented, faults } from '../support/deepvue-emulator.ts';
import { localDynamoConfig } from '../support/dynalite.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { callApi, restEvent } from '../support/lambda.ts';
import { fixtureImage } from '../support/relay.ts';
import { API_HOST, STAGE, startSessions, type SessionsUnderTest, type UploadForm } from '../support/sessions.ts';
import { BUCKET, MAX_RECEIVE_COUNT, RESULTS_TABLE } from '../support/uploads.ts';
import { jwksFunction, publishedKeys, verifyVerdict } from '../support/verdicts.ts';

/** Small enough that two-faces.jpg (487 KB) is too large, large enough for the other photographs. */
const MAX_IMAGE_BYTES = 300_000;
const SELFIE = fixtureImage('face-480p.jpg');
const NOT_AN_IMAGE = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n'.repeat(50));
const ENVELOPE = { code: expect.any(Number), timestamp: expect.any(Number), transaction_id: expect.any(String), sub_code: expect.any(String), message: expect.any(String) };

let sessions: SessionsUnderTest;
let table: DynamoDBClient;

beforeAll(async () => {
  sessions = await startSessions({ MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES) });
  table = new DynamoDBClient(localDynamoConfig(sessions.pipeline.dynamo.endpoint));
});
afterAll(async () => {
  table.destroy();
  await sessions.close();
});
beforeEach(() => {
  sessions.pipeline.deepvue.clearCalls();
  sessions.takeStored();
});

const ref = (id: string) => createHash('sha256').update(id).digest('base64url');
const keyOf = (id: string) => `uploads/sessions/${ref(id)}.jpg`;
const readSession = async (id: string) => (await sessions.call('read', { id })).body;
const upstreamChecks = () => sessions.pipeline.upstreamChecks();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
/** Whether the bucket holds an object under `key`. */
async function holds(key: string): Promise<boolean> {
  try {
    await sessions.pipeline.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw error;
  }
}
/** The form sent straight to s3rver, which enforces no POST policy (as under npm start): what a bucket that let it through would store. */
const pastTheGate = (form: UploadForm): UploadForm => ({ ...form, url: `${sessions.pipeline.s3Server.endpoint}/${BUCKET}` });
/** The `Reason` of every `UploadsDiscarded` record since the output was last cleared. */
const discarded = () => sessions.pipeline.output.metricRecords('UploadsDiscarded').map((record) => record.Reason);

/** Uploads `file` through the session's presigned POST and delivers what S3 stored to s3Upload. */
async function uploadAndDeliver(id: string, file: Uint8Array = SELFIE) {
  expect(await sessions.post(await sessions.form(id), file)).toBe(204);
  const stored = sessions.takeStored();
  expect(stored).toHaveLength(1);
  const answer = await sessions.pipeline.deliver(stored.map((object) => ({ object })));
  expect(answer.batchItemFailures).toEqual([]);
  return stored[0]!;
}

describe('POST /v1/liveness-sessions', () => {
  it('opens a session: 201 with an unguessable id, the capture URL carrying it in its fragment, and its expiry', async () => {
    const before = Date.now();
    const answer = await sessions.call('open', { body: JSON.stringify({ reference: 'case-42' }) });

    expect(answer.status).toBe(201);
    expect(answer.headers).toEqual({ 'content-type': 'application/json', 'x-request-id': answer.requestId, 'cache-control': 'no-store' });
    expect(Object.keys(answer.body).sort()).toEqual(['capture_url', 'expires_at', 'session_id']);
    const id = answer.body.session_id as string;
    // 24 base64url characters: 144 random bits.
    expect(id).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(18);
    expect(answer.body.capture_url).toBe(`https://${API_HOST}/${STAGE}/capture#${id}`);
    const expiresAt = Date.parse(answer.body.expires_at as string);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 300_000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 300_000);
  });

  it('stores the session under the hash of its id, never the id itself, with a TTL', async () => {
    const id = await sessions.open('case-hash');
    const { Items = [] } = await table.send(new ScanCommand({ TableName: RESULTS_TABLE }));
    const item = Items.find((candidate) => candidate.pk?.S === `session#${ref(id)}`);
    expect(item).toMatchObject({ status: { S: 'PENDING' }, reference: { S: 'case-hash' }, expires_at: { N: expect.any(String) } });
    expect(JSON.stringify(Items)).not.toContain(id);
    // Kept as long as upload results are (RESULTS_RETENTION_DAYS, 30).
    expect(Number(item?.expires_at?.N) * 1000).toBeGreaterThan(Date.now() + 29 * 24 * 3600 * 1000);
  });

  it('gives every session its own id', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, () => sessions.open()));
    expect(new Set(ids).size).toBe(20);
  });

  it('accepts no body, an empty object, and references up to 128 characters', async () => {
    for (const body of [null, '', '{}', JSON.stringify({ reference: null }), JSON.stringify({ reference: '€'.repeat(128) })]) {
      const answer = await sessions.call('open', { body });
      expect(answer.status, String(body)).toBe(201);
    }
    const id = await sessions.open();
    expect((await readSession(id)).reference).toBeNull();
  });

  it('answers 422 INVALID_REQUEST for a body that is not a JSON object or a reference that is not a short string', async () => {
    for (const body of ['not json', '[]', '"case"', '42', JSON.stringify({ reference: 'x'.repeat(129) }), JSON.stringify({ reference: 7 })]) {
      const answer = await sessions.call('open', { body });
      expect(answer, body).toMatchObject({ status: 422, body: { ...ENVELOPE, code: 422, sub_code: 'INVALID_REQUEST' } });
      expect(answer.headers['x-request-id']).toBe(answer.requestId);
    }
  });

  it('builds capture_url from the API, its stage and region, whatever Host and X-Forwarded-Proto say, and answers a malformed Host', async () => {
    const spellings: Array<Record<string, string>> = [{ Host: 'a b' }, { Host: 'evil.example', 'X-Forwarded-Proto': 'http' }, { host: 'evil.example:8443/capture#' }, {}];
    for (const headers of spellings) {
      const answer = await sessions.call('open', { headers });
      expect(answer.status, JSON.stringify(headers)).toBe(201);
      expect(answer.body.capture_url).toBe(`https://${API_HOST}/${STAGE}/capture#${answer.body.session_id as string}`);
    }
  });

  it('points capture_url at CAPTURE_PAGE_URL when the page is served elsewhere', async () => {
    const handler = await sessions.load({ CAPTURE_PAGE_URL: 'https://kyc.example.com/selfie' });
    const answer = await sessions.call('open', { handler });
    expect(answer.body.capture_url).toBe(`https://kyc.example.com/selfie#${answer.body.session_id as string}`);
  });
});

describe('GET /v1/liveness-sessions/{id}', () => {
  it('shows a new session PENDING, with its reference and times', async () => {
    const id = await sessions.open('case-7');
    const answer = await sessions.call('read', { id });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      session_id: id,
      reference: 'case-7',
      status: 'PENDING',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      expires_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(answer.headers).toEqual({ 'content-type': 'application/json', 'x-request-id': answer.requestId, 'cache-control': 'no-store' });
  });

  it('answers 404 NOT_FOUND for an unknown or malformed id', async () => {
    for (const id of ['AAAAAAAAAAAAAAAAAAAAAAAA', 'short', `${'A'.repeat(24)}=`, 'A'.repeat(23) + '/', '../../etc/passwd', '']) {
      for (const route of ['read', 'upload', 'progress'] as const) {
        const answer = await sessions.call(route, { id });
        expect(answer, `${route} ${id}`).toMatchObject({ status: 404, body: { ...ENVELOPE, code: 404, sub_code: 'NOT_FOUND' } });
      }
    }
  });

  it('turns a malformed id away before any DynamoDB call, and answers 500 when the table cannot be read', async () => {
    const proxy = await startFaultProxy(sessions.pipeline.dynamo.endpoint);
    try {
      proxy.inject({ kind: 'reset' }, Infinity);
      const handler = await sessions.load({ AWS_ENDPOINT_URL_DYNAMODB: proxy.url });
      for (const route of ['read', 'upload', 'progress'] as const) {
        expect((await sessions.call(route, { id: 'not-a-session', handler })).status).toBe(404);
      }
      expect(proxy.faulted).toBe(0);

      const answer = await sessions.call('read', { id: 'A'.repeat(24), handler });
      expect(answer).toMatchObject({ status: 500, body: { ...ENVELOPE, code: 500, sub_code: 'INTERNAL_SERVER_ERROR' } });
      expect(answer.headers['x-request-id']).toBe(answer.requestId);
      expect(proxy.faulted).toBeGreaterThan(0);
    } finally {
      await proxy.close();
      await sessions.load();
    }
  });
});

describe('POST /v1/liveness-sessions/{id}/upload', () => {
  it('answers a presigned POST for exactly the session key, image type and size limit, never outliving the session', async () => {
    const id = await sessions.open();
    const session = await readSession(id);
    const answer = await sessions.call('upload', { id });

    expect(answer.status).toBe(200);
    expect(answer.headers).toEqual({ 'content-type': 'application/json', 'x-request-id': answer.requestId, 'cache-control': 'no-store' });
    expect(answer.body).toEqual({ url: `${sessions.gate.endpoint}/${BUCKET}`, fields: expect.any(Object), max_bytes: MAX_IMAGE_BYTES, expires_at: expect.any(String) });
    const fields = answer.body.fields as Record<string, string>;
    expect(fields).toMatchObject({ key: keyOf(id), 'Content-Type': 'image/jpeg', bucket: BUCKET, 'X-Amz-Algorithm': 'AWS4-HMAC-SHA256' });
    expect(Date.parse(answer.body.expires_at as string)).toBeLessThanOrEqual(Date.parse(session.expires_at as string));
    const policy = JSON.parse(Buffer.from(fields.Policy!, 'base64').toString('utf8')) as { expiration: string; conditions: unknown[] };
    expect(policy.conditions).toEqual(expect.arrayContaining([
      ['content-length-range', 1, MAX_IMAGE_BYTES],
      { key: keyOf(id) },
      { 'Content-Type': 'image/jpeg' },
      { bucket: BUCKET },
    ]));
    expect(Date.parse(policy.expiration)).toBeLessThanOrEqual(Date.parse(session.expires_at as string));
    // Neither the form nor anything else the page is given names the id in the clear.
    expect(JSON.stringify(answer.body)).not.toContain(id);
  });

  it('names the content type asked for, among JPEG, PNG and WebP, and refuses any other', async () => {
    const id = await sessions.open();
    expect((await sessions.form(id, 'image/png')).fields['Content-Type']).toBe('image/png');
    expect((await sessions.form(id, 'image/webp')).fields['Content-Type']).toBe('image/webp');
    for (const body of [JSON.stringify({ content_type: 'image/gif' }), JSON.stringify({ content_type: 'text/html' }), JSON.stringify({ content_type: 1 }), '{oops']) {
      const answer = await sessions.call('upload', { id, body });
      expect(answer, body).toMatchObject({ status: 422, body: { ...ENVELOPE, sub_code: 'INVALID_REQUEST' } });
    }
  });

  it('gives a form S3 accepts for the session key with its type and size, and refuses any other key, type, size or extra field', async () => {
    const id = await sessions.open();
    const form = await sessions.form(id);
    const other = await sessions.form(await sessions.open());

    expect(await sessions.post(form, SELFIE, { fields: { key: 'uploads/selfie.jpg' } })).toBe(403);
    expect(await sessions.post(form, SELFIE, { fields: { key: other.fields.key! } })).toBe(403);
    expect(await sessions.post(form, SELFIE, { fields: { 'Content-Type': 'image/png' } })).toBe(403);
    expect(await sessions.post(form, SELFIE, { fields: { 'Content-Type': 'text/html' } })).toBe(403);
    expect(await sessions.post(form, SELFIE, { fields: { 'x-amz-meta-note': 'extra' } })).toBe(403);
    expect(await sessions.post(form, fixtureImage('two-faces.jpg'))).toBe(400);
    expect(await sessions.post(form, new Uint8Array(0))).toBe(400);
    expect(sessions.gate.decisions().slice(-7).map((decision) => decision.reason)).toEqual([
      'AccessDenied', 'AccessDenied', 'AccessDenied', 'AccessDenied', 'AccessDenied', 'EntityTooLarge', 'EntityTooSmall',
    ]);
    expect(sessions.takeStored()).toEqual([]);

    expect(await sessions.post(form, SELFIE)).toBe(204);
    expect(sessions.takeStored().map((object) => object.key)).toEqual([keyOf(id)]);
  });

  it('gives a form that S3 refuses once it has expired', async () => {
    const handler = await sessions.load({ SESSION_TTL_SECONDS: '3' });
    const opened = await sessions.call('open', { handler });
    const id = opened.body.session_id as string;
    const form = (await sessions.call('upload', { id, handler })).body as unknown as Parameters<SessionsUnderTest['post']>[0];
    await sleep(Date.parse(form.expires_at) - Date.now() + 100);
    expect(await sessions.post(form, SELFIE)).toBe(403);
    expect(sessions.gate.decisions().at(-1)?.reason).toBe('AccessDenied');
    await sessions.load();
  });

  it('answers 409 SESSION_USED once the image is in the bucket, before and after its check', async () => {
    const id = await sessions.open();
    expect(await sessions.post(await sessions.form(id), SELFIE)).toBe(204);

    // Received, not checked yet: the session is still PENDING, but the key holds an image.
    expect((await readSession(id)).status).toBe('PENDING');
    expect(await sessions.call('upload', { id })).toMatchObject({ status: 409, body: { ...ENVELOPE, code: 409, sub_code: 'SESSION_USED' } });

    await sessions.pipeline.deliver(sessions.takeStored().map((object) => ({ object })));
    expect(await sessions.call('upload', { id })).toMatchObject({ status: 409, body: { sub_code: 'SESSION_USED' } });
  });
});

describe('GET /v1/liveness-sessions/{id}/progress', () => {
  it('says WAITING_FOR_UPLOAD, then DONE, and nothing else: never a verdict', async () => {
    const id = await sessions.open();
    const waiting = await sessions.call('progress', { id });
    expect(waiting.status).toBe(200);
    expect(waiting.body).toEqual({ status: 'WAITING_FOR_UPLOAD' });
    expect(waiting.headers).toEqual({ 'content-type': 'application/json', 'x-request-id': waiting.requestId, 'cache-control': 'no-store' });

    await uploadAndDeliver(id);
    expect((await sessions.call('progress', { id })).body).toEqual({ status: 'DONE' });
  });

  it('says CHECKING while the image is being checked', async () => {
    const id = await sessions.open();
    expect(await sessions.post(await sessions.form(id), SELFIE)).toBe(204);
    const [object] = sessions.takeStored();
    sessions.pipeline.deepvue.inject('/v1/liveness-check', { kind: 'hang' });
    // Deadline of the check: 1.5 s of the invocation's 4.5 s (3 s are kept for recording).
    const delivery = sessions.pipeline.deliver([{ object: object! }], 4_500);
    await expect.poll(async () => (await sessions.call('progress', { id })).body, { timeout: 5000 }).toEqual({ status: 'CHECKING' });
    expect((await readSession(id)).status).toBe('CHECKING');
    await delivery;
    expect(await readSession(id)).toMatchObject({ status: 'FAILED', result: { sub_code: 'UPSTREAM_TIMEOUT' } });
  });
});

describe('the upload path with a session key', () => {
  it('checks the image once and completes the session with the verdict the backend reads', async () => {
    const id = await sessions.open('case-done');
    const object = await uploadAndDeliver(id);

    expect(upstreamChecks()).toBe(1);
    expect(sessions.pipeline.deepvue.calls('/v1/liveness-check')[0]?.body.image).toBe(SELFIE.toString('base64'));
    expect(await sessions.call('read', { id })).toMatchObject({
      status: 200,
      body: {
        session_id: id,
        reference: 'case-done',
        status: 'COMPLETED',
        image: { bucket: BUCKET, key: keyOf(id), version: object.eTag },
        result: { code: 200, sub_code: 'SUCCESS', data: { is_live: true } },
      },
    });
    // The key's result is kept as for any upload.
    const stored = await sessions.pipeline.results.read(BUCKET, keyOf(id));
    expect(stored).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
    // One signature, in the session and in the key's result: the session is named by its reference, never its id.
    const { signature, result } = (await readSession(id)) as { signature: string; result: { transaction_id: string } };
    expect(stored?.signature).toBe(signature);
    expect(await verifyVerdict(signature, await publishedKeys(await jwksFunction(sessions.pipeline.env)))).toEqual({
      transaction_id: result.transaction_id,
      sub_code: 'SUCCESS',
      is_live: true,
      score: null,
      image_sha256: createHash('sha256').update(SELFIE).digest('hex'),
      source: 'session',
      subject: ref(id),
      replay: null,
      iat: expect.any(Number),
    });
  });

  it('keeps Deepvue’s answer as documented, null timestamp and score included', async () => {
    const id = await sessions.open();
    const answer = documented('liveness-success', { data: { is_live: false, score: null } });
    sessions.pipeline.deepvue.inject('/v1/liveness-check', answer);
    await uploadAndDeliver(id);
    expect((await readSession(id)).result).toEqual(answer.body);
    expect((await readSession(id)).result).toMatchObject({ timestamp: null, data: { score: null } });
  });

  it('makes one upstream call however many deliveries and uploads reach the key', async () => {
    const id = await sessions.open();
    const form = await sessions.form(id);
    expect(await sessions.post(form, SELFIE)).toBe(204);
    const [first] = sessions.takeStored();
    // The same notification three times in a batch, and again later; then a second image through
    // the same form (a presigned POST can be reused until it expires), delivered twice.
    await sessions.pipeline.deliver([{ object: first! }, { object: first! }, { object: first! }]);
    await sessions.pipeline.deliver([{ object: first!, receiveCount: 2 }]);
    expect(await sessions.post(form, fixtureImage('face.png'), { type: 'image/jpeg' })).toBe(204);
    const [second] = sessions.takeStored();
    const answer = await sessions.pipeline.deliver([{ object: second! }, { object: second! }]);

    expect(answer.batchItemFailures).toEqual([]);
    expect(upstreamChecks()).toBe(1);
    const session = await readSession(id);
    expect(session).toMatchObject({ status: 'COMPLETED', image: { version: first!.eTag }, result: { sub_code: 'SUCCESS' } });
    // The newest object under the key was not checked, and its record says so.
    expect(await sessions.pipeline.results.read(BUCKET, keyOf(id))).toMatchObject({ status: 'REJECTED', result: { code: 409, sub_code: 'SESSION_USED' } });
  });

  it('rejects a file that is not an image without an upstream call, and ends the session REJECTED', async () => {
    const id = await sessions.open();
    await uploadAndDeliver(id, NOT_AN_IMAGE);
    expect(upstreamChecks()).toBe(0);
    expect(await readSession(id)).toMatchObject({ status: 'REJECTED', result: { code: 422, sub_code: 'UNSUPPORTED_IMAGE_FORMAT' } });
    expect((await sessions.call('progress', { id })).body).toEqual({ status: 'DONE' });
    expect(await sessions.call('upload', { id })).toMatchObject({ status: 409, body: { sub_code: 'SESSION_USED' } });
  });

  it('rejects a JPEG header followed by HTML without an upstream call, and ends the session REJECTED', async () => {
    const id = await sessions.open();
    await uploadAndDeliver(id, Buffer.concat([SELFIE.subarray(0, 2590), Buffer.from('<!doctype html><html><body onload=alert(1)></body></html>')]));
    expect(upstreamChecks()).toBe(0);
    expect(await readSession(id)).toMatchObject({ status: 'REJECTED', result: { code: 422, sub_code: 'UNSUPPORTED_IMAGE_FORMAT', message: 'image is not a usable JPEG: bytes that are not a marker follow a segment' } });
  });

  it('keeps a FAILED session’s result when its message is redriven with its image kept (KEEP_UPLOADS_HOURS)', async () => {
    await sessions.pipeline.restart({ ...sessions.env, KEEP_UPLOADS_HOURS: '24' });
    try {
      const id = await sessions.open();
      expect(await sessions.post(await sessions.form(id), SELFIE)).toBe(204);
      const [object] = sessions.takeStored();
      // The last receive has no time left for the check: FAILED, and the message goes on to the dead-letter queue.
      const last = await sessions.pipeline.deliver([{ object: object!, messageId: 'm-last', receiveCount: MAX_RECEIVE_COUNT }], 2000);
      expect(last.batchItemFailures).toEqual([{ itemIdentifier: 'm-last' }]);
      const failed = await sessions.pipeline.results.read(BUCKET, keyOf(id));
      expect(failed).toMatchObject({ status: 'FAILED', result: { sub_code: 'UPSTREAM_TIMEOUT' } });

      // Redriven: the image is the one that ended the session; it is not checked, and its result stands.
      expect((await sessions.pipeline.deliver([{ object: object!, messageId: 'm-redrive' }])).batchItemFailures).toEqual([]);
      expect(upstreamChecks()).toBe(0);
      expect(await readSession(id)).toMatchObject({ status: 'FAILED', result: { sub_code: 'UPSTREAM_TIMEOUT' } });
      expect(await sessions.pipeline.results.read(BUCKET, keyOf(id))).toEqual(failed);
      expect(await holds(keyOf(id))).toBe(true);
    } finally {
      await sessions.pipeline.restart(sessions.env);
    }
  });

  it('ends the session FAILED after an upstream failure, without a second call on redelivery', async () => {
    const id = await sessions.open();
    expect(await sessions.post(await sessions.form(id), SELFIE)).toBe(204);
    const [object] = sessions.takeStored();
    sessions.pipeline.deepvue.inject('/v1/liveness-check', faults.unavailable());

    const answer = await sessions.pipeline.deliver([{ object: object!, messageId: 'm-503' }]);
    // Not returned to the queue: another try would be a second upstream call for the session.
    expect(answer.batchItemFailures).toEqual([]);
    await sessions.pipeline.deliver([{ object: object!, receiveCount: 2 }]);

    expect(upstreamChecks()).toBe(1);
    expect(await readSession(id)).toMatchObject({ status: 'FAILED', result: { code: 503, sub_code: 'UPSTREAM_UNAVAILABLE' } });
    expect((await sessions.call('progress', { id })).body).toEqual({ status: 'DONE' });
  });

  it('keeps the session open when its object is gone before it is read, so a new upload is checked', async () => {
    const id = await sessions.open();
    expect(await sessions.post(await sessions.form(id), SELFIE)).toBe(204);
    const [object] = sessions.takeStored();
    await sessions.pipeline.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: keyOf(id) }));
    await sessions.pipeline.deliver([{ object: object! }]);
    expect(await readSession(id)).toMatchObject({ status: 'PENDING' });
    expect(upstreamChecks()).toBe(0);

    // Other bytes: the same bytes again would be the same version (its ETag) in an unversioned bucket.
    await uploadAndDeliver(id, fixtureImage('live-selfie-exif-rotated.jpg'));
    expect(await readSession(id)).toMatchObject({ status: 'COMPLETED' });
    expect(upstreamChecks()).toBe(1);
  });

  it('gives up a check that was interrupted after its claim instead of calling upstream again', async () => {
    const id = await sessions.open();
    expect(await sessions.post(await sessions.form(id), SELFIE)).toBe(204);
    const [object] = sessions.takeStored();
    // What an invocation that died mid-check leaves behind: the session claimed by this version.
    const store = new SessionStore({ client: table, tableName: RESULTS_TABLE, retentionDays: 30 });
    const image = { bucket: BUCKET, key: object!.key, version: object!.eTag, version_id: null, etag: object!.eTag };
    expect(await store.claim(ref(id), image, { at: object!.storedAt!, contentType: 'image/jpeg', size: object!.size })).toBe('claimed');

    await sessions.pipeline.deliver([{ object: object! }]);
    expect(upstreamChecks()).toBe(0);
    expect(await readSession(id)).toMatchObject({ status: 'FAILED', result: { code: 500, sub_code: 'INTERNAL_SERVER_ERROR' } });
  });

  it('checks nothing in the sessions folder that no session has', async () => {
    for (const key of ['uploads/sessions/selfie.jpg', `uploads/sessions/${'A'.repeat(43)}.jpg`, `uploads/sessions/nested/${'B'.repeat(43)}.jpg`]) {
      await sessions.pipeline.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: SELFIE }));
    }
    await sessions.pipeline.deliver(sessions.takeStored().map((object) => ({ object })));
    expect(upstreamChecks()).toBe(0);
    for (const key of ['uploads/sessions/selfie.jpg', `uploads/sessions/${'A'.repeat(43)}.jpg`]) {
      expect(await sessions.pipeline.results.read(BUCKET, key), key).toMatchObject({ status: 'REJECTED', result: { code: 404, sub_code: 'NOT_FOUND' } });
      expect(await holds(key), key).toBe(false);
    }
  });
});

describe('what reaches a session’s key after its image, or outside what its forms allowed', () => {
  beforeEach(() => sessions.pipeline.output.clear());

  it('deletes an image posted again through the same form after the check, unchecked: the session names the bytes it checked, and only those', async () => {
    const id = await sessions.open();
    const form = await sessions.form(id);
    expect(await sessions.post(form, SELFIE)).toBe(204);
    const [checked] = sessions.takeStored();
    await sessions.pipeline.deliver([{ object: checked! }]);
    expect(await readSession(id)).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });

    // The form is still valid: S3 takes a second photo under the session's key.
    const swap = fixtureImage('live-selfie-exif-rotated.jpg');
    expect(await sessions.post(form, swap)).toBe(204);
    const [swapped] = sessions.takeStored();
    const answer = await sessions.pipeline.deliver([{ object: swapped! }, { object: swapped! }]);

    expect(answer.batchItemFailures).toEqual([]);
    expect(upstreamChecks()).toBe(1);
    // Without versioning the checked bytes were overwritten by the swap: the key now holds nothing
    // rather than bytes nobody checked (with versioning, the checked version is current again).
    expect(await holds(keyOf(id))).toBe(false);
    expect(await readSession(id)).toMatchObject({
      status: 'COMPLETED',
      image: { bucket: BUCKET, key: keyOf(id), version: checked!.eTag, version_id: null, etag: checked!.eTag, sha256: sha256(SELFIE) },
      result: { sub_code: 'SUCCESS' },
    });
    expect(await sessions.pipeline.results.read(BUCKET, keyOf(id))).toMatchObject({
      status: 'REJECTED',
      image: { version: swapped!.eTag, etag: swapped!.eTag, sha256: null },
      result: { code: 409, sub_code: 'SESSION_USED', message: expect.stringContaining('deleted unchecked') },
    });
    expect(discarded()).toEqual(['session-used']);
  });

  it('in a versioned bucket, reads the version its event names and deletes exactly the version that came after', async () => {
    // s3rver keeps no versions: the events name versions as S3 would, and the requests that
    // reach the bucket show that reads and the deletion name them.
    const id = await sessions.open();
    const form = await sessions.form(id);
    expect(await sessions.post(form, SELFIE)).toBe(204);
    const [checked] = sessions.takeStored();
    const name = `${ref(id)}.jpg`;
    const requestsSince = (start: number) => sessions.gate.requests().slice(start).filter((request) => request.includes(name));
    const beforeCheck = sessions.gate.requests().length;
    await sessions.pipeline.deliver([{ object: { ...checked!, versionId: 'v-checked' } }]);
    const reads = requestsSince(beforeCheck).filter((request) => /^(GET|HEAD) /.test(request) && !request.includes('tagging'));
    expect(reads.map((request) => request.split(' ')[0])).toEqual(['HEAD', 'GET']);
    expect(reads.every((request) => request.includes('versionId=v-checked'))).toBe(true);
    expect((await readSession(id)).image).toEqual({
      bucket: BUCKET, key: keyOf(id), version: 'v-checked', version_id: 'v-checked', etag: checked!.eTag, sha256: sha256(SELFIE),
    });

    expect(await sessions.post(form, fixtureImage('live-selfie-exif-rotated.jpg'))).toBe(204);
    const [swapped] = sessions.takeStored();
    const beforeSwap = sessions.gate.requests().length;
    await sessions.pipeline.deliver([{ object: { ...swapped!, versionId: 'v-swapped' } }]);

    const requests = requestsSince(beforeSwap);
    expect(requests.filter((request) => request.startsWith('DELETE'))).toEqual([expect.stringMatching(/\?versionId=v-swapped(&|$)/)]);
    expect(requests.every((request) => request.includes('versionId=v-swapped'))).toBe(true);
    expect(upstreamChecks()).toBe(1);
    expect((await readSession(id)).image).toMatchObject({ version_id: 'v-checked', sha256: sha256(SELFIE) });
    expect(discarded()).toEqual(['session-used']);
  });

  it('checks no image that reaches a session after its upload deadline, even one the bucket took: deleted, counted, the session EXPIRED', async () => {
    const handler = await sessions.load({ SESSION_TTL_SECONDS: '2' });
    const opened = (await sessions.call('open', { handler })).body;
    const id = opened.session_id as string;
    const form = (await sessions.call('upload', { id, handler })).body as unknown as UploadForm;
    // Two seconds after the deadline (one more than the clock skew allowed); nobody read the session meanwhile.
    await sleep(Date.parse(opened.expires_at as string) - Date.now() + 2000);
    expect(await sessions.post(pastTheGate(form), SELFIE)).toBe(204);
    await sessions.pipeline.deliver(sessions.takeStored().map((object) => ({ object })));

    expect(upstreamChecks()).toBe(0);
    expect(await holds(keyOf(id))).toBe(false);
    expect((await sessions.call('read', { id, handler })).body).toMatchObject({ status: 'EXPIRED' });
    expect(await sessions.pipeline.results.read(BUCKET, keyOf(id))).toMatchObject({ status: 'REJECTED', result: { code: 410, sub_code: 'SESSION_EXPIRED' } });
    expect(discarded()).toEqual(['session-expired']);
    await sessions.load();
  });

  it('deletes an image of another type, or larger, than its form allowed, and keeps the session waiting for a proper one', async () => {
    const id = await sessions.open();
    const form = pastTheGate(await sessions.form(id));
    expect(await sessions.post(form, SELFIE, { fields: { 'Content-Type': 'text/html' } })).toBe(204);
    await sessions.pipeline.deliver(sessions.takeStored().map((object) => ({ object })));
    expect(await sessions.pipeline.results.read(BUCKET, keyOf(id))).toMatchObject({ status: 'REJECTED', result: { code: 422, sub_code: 'UNSUPPORTED_IMAGE_FORMAT' } });
    expect(await holds(keyOf(id))).toBe(false);

    // two-faces.jpg is larger than MAX_IMAGE_BYTES, the form's limit.
    expect(await sessions.post(form, fixtureImage('two-faces.jpg'))).toBe(204);
    await sessions.pipeline.deliver(sessions.takeStored().map((object) => ({ object })));
    expect(await sessions.pipeline.results.read(BUCKET, keyOf(id))).toMatchObject({ status: 'REJECTED', result: { code: 413, sub_code: 'PAYLOAD_TOO_LARGE' } });
    expect(await holds(keyOf(id))).toBe(false);

    expect(upstreamChecks()).toBe(0);
    expect(discarded()).toEqual(['type-not-allowed', 'too-large']);
    expect(await readSession(id)).toMatchObject({ status: 'PENDING' });
    // Other bytes: the same bytes again would be the same version (its ETag) in an unversioned bucket.
    const proper = fixtureImage('live-selfie-exif-rotated.jpg');
    await uploadAndDeliver(id, proper);
    expect(await readSession(id)).toMatchObject({ status: 'COMPLETED', image: { sha256: sha256(proper) } });
  });

  it('gives forms that expire a minute after they are given, and admits what arrives with the clock skew allowed', async () => {
    const id = await sessions.open();
    const before = Date.now();
    const form = await sessions.form(id);
    const expiresAt = Date.parse(form.expires_at);
    expect(expiresAt).toBeGreaterThan(before + 58_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 60_000);
    const policy = JSON.parse(Buffer.from(form.fields.Policy!, 'base64').toString('utf8')) as { expiration: string };
    expect(Math.abs(Date.parse(policy.expiration) - expiresAt)).toBeLessThan(1000);

    // What S3 would announce for the form's last moments: one second late is admitted, later is not.
    const store = new SessionStore({ client: table, tableName: RESULTS_TABLE, retentionDays: 30 });
    const image = { bucket: BUCKET, key: keyOf(id), version_id: null, etag: 'e' };
    const arrival = (at: number) => ({ at: new Date(at), contentType: 'image/jpeg', size: SELFIE.length });
    expect(await store.claim(ref(id), { ...image, version: 'late' }, arrival(expiresAt + 1001))).toBe('late');
    expect(await readSession(id)).toMatchObject({ status: 'PENDING' });
    expect(await store.claim(ref(id), { ...image, version: 'in-time' }, arrival(expiresAt + 1000))).toBe('claimed');
  });
});

describe('expiry', () => {
  it('answers 410 SESSION_EXPIRED and EXPIRED once the window passed without an image', async () => {
    const handler = await sessions.load({ SESSION_TTL_SECONDS: '1' });
    const opened = (await sessions.call('open', { handler })).body;
    const id = opened.session_id as string;
    await sleep(Date.parse(opened.expires_at as string) - Date.now() + 100);

    expect(await sessions.call('upload', { id, handler })).toMatchObject({ status: 410, body: { ...ENVELOPE, code: 410, sub_code: 'SESSION_EXPIRED' } });
    expect((await sessions.call('progress', { id, handler })).body).toEqual({ status: 'EXPIRED' });
    expect((await sessions.call('read', { id, handler })).body).toMatchObject({ status: 'EXPIRED' });
    expect(await sessions.call('upload', { id, handler })).toMatchObject({ status: 410, body: { sub_code: 'SESSION_EXPIRED' } });

    // An image put there afterwards (not through the expired form) is not checked.
    await sessions.pipeline.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: keyOf(id), Body: SELFIE }));
    await sessions.pipeline.deliver(sessions.takeStored().map((object) => ({ object })));
    expect(upstreamChecks()).toBe(0);
    expect(await sessions.pipeline.results.read(BUCKET, keyOf(id))).toMatchObject({ status: 'REJECTED', result: { code: 410, sub_code: 'SESSION_EXPIRED' } });
    expect(await holds(keyOf(id))).toBe(false);
    expect((await sessions.call('read', { id, handler })).body).toMatchObject({ status: 'EXPIRED' });
    await sessions.load();
  });

  it('does not expire a session whose image arrived in time: it is checked when its event comes', async () => {
    // Long enough for the upload to be made on a busy machine, short enough to wait out.
    const handler = await sessions.load({ SESSION_TTL_SECONDS: '3' });
    const opened = (await sessions.call('open', { handler })).body;
    const id = opened.session_id as string;
    const form = (await sessions.call('upload', { id, handler })).body as unknown as Parameters<SessionsUnderTest['post']>[0];
    expect(await sessions.post(form, SELFIE)).toBe(204);
    await sleep(Date.parse(opened.expires_at as string) - Date.now() + 100);

    expect((await sessions.call('progress', { id, handler })).body).toEqual({ status: 'CHECKING' });
    expect(await sessions.call('upload', { id, handler })).toMatchObject({ status: 409, body: { sub_code: 'SESSION_USED' } });
    await sessions.pipeline.deliver(sessions.takeStored().map((object) => ({ object })));
    expect((await sessions.call('read', { id, handler })).body).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
    expect(upstreamChecks()).toBe(1);
    await sessions.load();
  });
});

describe('routes', () => {
  it('answers 404 NOT_FOUND for a resource the function does not serve', async () => {
    const event = { ...restEvent('DELETE', '/v1/liveness-sessions/x', { body: null, headers: {} }), resource: '/v1/liveness-sessions/{id}' };
    const answer = await callApi(await sessions.load(), event, 10_000);
    expect(answer.status).toBe(404);
    expect(answer.body).toMatchObject({ ...ENVELOPE, code: 404, sub_code: 'NOT_FOUND' });
    expect(answer.headers).toMatchObject({ 'x-request-id': event.requestContext.requestId });
  });

  it('never logs a session id', async () => {
    sessions.pipeline.output.clear();
    const id = await sessions.open();
    await sessions.call('progress', { id });
    await sessions.call('upload', { id });
    await uploadAndDeliver(id);
    await sessions.call('read', { id });
    expect(sessions.pipeline.output.text()).toContain('liveness session route answered');
    expect(sessions.pipeline.output.text()).not.toContain(id);
  });
});
