import { createHash } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import { DynamoDBClient, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { versionRecords, type VersionRecordKind } from '../../lib/uploads/version-records.ts';
import { localDynamoConfig } from '../support/dynalite.ts';
import { dynamoRequest, dynamoThrottled, s3SlowDown, startFaultProxy, type FaultProxy, type ProxyMatch } from '../support/fault-proxy.ts';
import { callApi, loadFunction, restEvent, type RestHandler } from '../support/lambda.ts';
import { fixtureImage } from '../support/relay.ts';
import { startSessions, type SessionsUnderTest } from '../support/sessions.ts';
import { BUCKET, RESULTS_TABLE } from '../support/uploads.ts';

const SELFIE = fixtureImage('face-480p.jpg');
const SELFIE_SHA256 = createHash('sha256').update(SELFIE).digest('hex');
const RECEIPT_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

let sessions: SessionsUnderTest;
let table: DynamoDBClient;
let erasure: RestHandler;
let results: RestHandler;
/** Between the erasure function and the bucket, and the table: where the tests break them. */
let s3Faults: FaultProxy;
let dynamoFaults: FaultProxy;

beforeAll(async () => {
  // Images kept after their check, so that there is an image to erase; without it each image is
  // deleted once checked (test/functions/s3-upload-retention.test.ts).
  sessions = await startSessions({ KEEP_UPLOADS_HOURS: '24' });
  table = new DynamoDBClient(localDynamoConfig(sessions.pipeline.dynamo.endpoint));
  [s3Faults, dynamoFaults] = await Promise.all([startFaultProxy(sessions.env.AWS_ENDPOINT_URL_S3 ?? ''), startFaultProxy(sessions.pipeline.dynamo.endpoint)]);
  results = await loadFunction('liveness-result', { ...sessions.env, AWS_LAMBDA_FUNCTION_NAME: 'livenessResult' });
  // Loaded last: the SDK reads the endpoint variables when a client first sends, so they stay
  // set for every function of the file; the proxies pass everything through until a test breaks them.
  erasure = await loadFunction('liveness-erasure', {
    ...sessions.env,
    AWS_LAMBDA_FUNCTION_NAME: 'livenessErasure',
    AWS_ENDPOINT_URL_S3: s3Faults.url,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoFaults.url,
  });
});
afterAll(async () => {
  table.destroy();
  await Promise.all([s3Faults.close(), dynamoFaults.close()]);
  await sessions.close();
});
beforeEach(() => {
  sessions.pipeline.deepvue.clearCalls();
  sessions.pipeline.output.clear();
  sessions.takeStored();
  s3Faults.clear();
  dynamoFaults.clear();
});

type Answer = { status: number; headers: Record<string, string>; body: Record<string, unknown>; requestId: string };

/** DELETE /v1/liveness-results/{key+}, the key as API Gateway passes it (URL-encoded). */
async function eraseUpload(key: string, encode: (key: string) => string = encodeURIComponent): Promise<Answer> {
  const encoded = encode(key);
  const resource = '/v1/liveness-results/{key+}';
  const base = restEvent('DELETE', `/v1/liveness-results/${encoded}`, { body: null, headers: {} });
  const answer = await callApi(erasure, { ...base, resource, pathParameters: { key: encoded } }, 10_000);
  return { ...answer, body: answer.body as Record<string, unknown> };
}

/** DELETE /v1/liveness-sessions/{id}. */
async function eraseSession(id: string): Promise<Answer> {
  const resource = '/v1/liveness-sessions/{id}';
  const base = restEvent('DELETE', `/v1/liveness-sessions/${id}`, { body: null, headers: {} });
  const answer = await callApi(erasure, { ...base, resource, pathParameters: { id } }, 10_000);
  return { ...answer, body: answer.body as Record<string, unknown> };
}

async function readResult(key: string): Promise<number> {
  return (await getResult(key)).status;
}

/** GET /v1/liveness-results/{key+}. */
async function getResult(key: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const encoded = encodeURIComponent(key);
  const base = restEvent('GET', `/v1/liveness-results/${encoded}`, { body: null, headers: {} });
  const answer = await callApi(results, { ...base, pathParameters: { key: encoded } }, 10_000);
  return { status: answer.status, body: answer.body as Record<string, unknown> };
}

/** The verdict's signature a stored result or session answered with; fails when there is none. */
function signatureOf(body: Record<string, unknown>): string {
  expect(body.signature).toEqual(expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/));
  return body.signature as string;
}

async function upload(key: string, body: Uint8Array = SELFIE) {
  const object = await sessions.pipeline.put(key, body);
  return object;
}

async function deliver(object: Awaited<ReturnType<typeof upload>>) {
  return sessions.pipeline.deliver([{ object }]);
}

/** The bucket's versions (and delete markers) of `key`. */
async function versionsOf(key: string): Promise<number> {
  const listed = await sessions.pipeline.s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: key }));
  return [...(listed.Versions ?? []), ...(listed.DeleteMarkers ?? [])].filter((version) => version.Key === key).length;
}

/** Every item of the results table, as DynamoDB JSON text. */
async function tableText(): Promise<string> {
  const { Items = [] } = await table.send(new ScanCommand({ TableName: RESULTS_TABLE }));
  return JSON.stringify(Items);
}

/** Items of the results table that hold anything under `key`'s result key besides an erasure's mark. */
async function heldAt(key: string): Promise<Array<Record<string, unknown>>> {
  const { Items = [] } = await table.send(new ScanCommand({ TableName: RESULTS_TABLE }));
  return Items.filter((item) => item.pk?.S === `s3://${BUCKET}/${key}` && item.status !== undefined);
}

/** The upload path's record of `kind` for the version, or undefined when there is none. */
async function versionRecord(kind: VersionRecordKind, key: string, version: string): Promise<{ status: string; data: unknown } | undefined> {
  const { layer } = await versionRecords(kind, { client: table, tableName: RESULTS_TABLE, retentionDays: 30 });
  try {
    const record = await layer.getRecord({ bucket: BUCKET, key, version });
    return { status: record.getStatus(), data: record.responseData };
  } catch {
    return undefined;
  }
}

/** S3 DeleteObjects, as the erasure deletes an image's versions. */
const isDeleteObjects: ProxyMatch = (request) => request.method === 'POST' && (request.url ?? '').includes('delete');

const erasureLines = () => sessions.pipeline.output.text().split('\n').filter((line) => line.includes('"message":"erased"'));

function expectNotFound(answer: Answer): void {
  expect(answer.status).toBe(404);
  expect(answer.body).toEqual({ code: 404, timestamp: expect.any(Number), transaction_id: expect.any(String), sub_code: 'NOT_FOUND', message: expect.any(String) });
  expect(answer.headers).toEqual({ 'content-type': 'application/json', 'x-request-id': answer.requestId });
}

describe('DELETE /v1/liveness-results/{key+}', () => {
  it('erases the result, every version of the image and what the upload path kept: 200 with the receipt, then nothing is served', async () => {
    const key = 'uploads/erase/Ana María/selfie 1.jpg';
    const object = await upload(key);
    expect((await deliver(object)).batchItemFailures).toEqual([]);
    const stored = await getResult(key);
    expect(stored.status).toBe(200);
    const signature = signatureOf(stored.body);
    expect(await tableText()).toContain(signature);
    sessions.pipeline.output.clear();

    const answer = await eraseUpload(key);

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ erased: { result: true, image_versions: 1, digests: 0 }, erased_at: expect.stringMatching(RECEIPT_TIME) });
    expect(answer.headers).toEqual({ 'content-type': 'application/json', 'x-request-id': answer.requestId });
    expect(await readResult(key)).toBe(404);
    expect(await versionsOf(key)).toBe(0);
    expect(await heldAt(key)).toEqual([]);
    // The verdict's signature went with the result: nothing in the table holds it any more.
    expect(await tableText()).not.toContain(signature);
    // What stays under the key is the erasure's mark: the versions erased (stored before it listed the bucket), for an hour, no result.
    const { Items = [] } = await table.send(new ScanCommand({ TableName: RESULTS_TABLE }));
    const mark = Items.find((item) => item.pk?.S === `s3://${BUCKET}/${key}`);
    expect(Object.keys(mark ?? {}).sort()).toEqual(['erased_before', 'erased_versions', 'expires_at', 'generation', 'pk']);
    expect(Number(mark?.expires_at?.N) - Date.now() / 1000).toBeLessThanOrEqual(3600);
    // The check's kept outcome is gone; its claim answers later deliveries of the upload as "erased".
    expect(await versionRecord('upload-outcome', key, object.eTag)).toBeUndefined();
    expect(await versionRecord('upload-claim', key, object.eTag)).toEqual({ status: 'COMPLETED', data: { status: 'ERASED', erased_before: Number(mark?.erased_before?.N) } });
  });

  it('writes one log line per erasure, with the request id, the record and the counts, never the image or a digest, and one Erasures metric', async () => {
    const key = 'uploads/erase/receipt.jpg';
    await deliver(await upload(key));
    sessions.pipeline.output.clear();

    const answer = await eraseUpload(key);

    expect(answer.status).toBe(200);
    const lines = erasureLines().map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'INFO', correlation_id: answer.requestId, record: 'upload', bucket: BUCKET, key, erased: { result: true, image_versions: 1, digests: 0 } }),
    ]);
    const output = sessions.pipeline.output.text();
    expect(output).not.toContain(SELFIE_SHA256);
    expect(output).not.toContain(SELFIE.subarray(0, 64).toString('base64'));
    expect(sessions.pipeline.output.metricRecords('Erasures')).toEqual([expect.objectContaining({ Erasures: 1, Record: 'upload' })]);
  });

  it('answers a second erasure of the same key 404, and a redelivered event of it makes no upstream call and stores nothing', async () => {
    const key = 'uploads/erase/twice.jpg';
    const object = await upload(key);
    await deliver(object);
    expect((await eraseUpload(key)).status).toBe(200);
    sessions.pipeline.deepvue.clearCalls();

    expectNotFound(await eraseUpload(key));
    expect((await deliver(object)).batchItemFailures).toEqual([]);
    expect(sessions.pipeline.upstreamChecks()).toBe(0);
    expect(await readResult(key)).toBe(404);
    expect(await heldAt(key)).toEqual([]);
  });

  it('erases an image not checked yet; its event, arriving later, is not checked and stores nothing', async () => {
    const key = 'uploads/erase/unchecked.jpg';
    const object = await upload(key);

    expect((await eraseUpload(key)).body).toMatchObject({ erased: { result: false, image_versions: 1, digests: 0 } });
    expect((await deliver(object)).batchItemFailures).toEqual([]);
    expect(sessions.pipeline.upstreamChecks()).toBe(0);
    expect(await readResult(key)).toBe(404);
    expect(await heldAt(key)).toEqual([]);
  });

  it('erases an upload while its check runs: the check ends, and its result is never stored nor announced', async () => {
    const key = 'uploads/erase/while-checking.jpg';
    const object = await upload(key);
    let release = () => undefined as void;
    sessions.pipeline.deepvue.inject('/v1/liveness-check', { kind: 'held', until: new Promise<void>((resolve) => { release = resolve; }) });
    const events = sessions.pipeline.events.entries().length;
    const checking = deliver(object);
    await expect.poll(() => sessions.pipeline.upstreamChecks()).toBe(1);

    const answer = await eraseUpload(key);
    release();

    expect(answer.body).toMatchObject({ erased: { result: false, image_versions: 1, digests: 0 } });
    expect((await checking).batchItemFailures).toEqual([]);
    expect(await readResult(key)).toBe(404);
    expect(await heldAt(key)).toEqual([]);
    expect(await versionsOf(key)).toBe(0);
    expect(sessions.pipeline.events.entries()).toHaveLength(events);
    expect(await versionRecord('upload-claim', key, object.eTag)).toEqual({ status: 'COMPLETED', data: { status: 'ERASED', erased_before: expect.any(Number) } });
    expect(await versionRecord('upload-outcome', key, object.eTag)).toBeUndefined();
  });

  it.each([
    ['after its check', false],
    ['while its check ran', true],
  ])('checks the same bytes uploaded again under the key, erased %s, as a new upload, though the bucket names both by one ETag', async (_, whileChecking) => {
    const key = `uploads/erase/again-${String(whileChecking)}.jpg`;
    const first = await upload(key);
    let release = () => undefined as void;
    if (whileChecking) sessions.pipeline.deepvue.inject('/v1/liveness-check', { kind: 'held', until: new Promise<void>((resolve) => { release = resolve; }) });
    const checking = deliver(first);
    if (whileChecking) await expect.poll(() => sessions.pipeline.upstreamChecks()).toBe(1);
    else await checking;
    expect((await eraseUpload(key)).status).toBe(200);
    release();
    await checking;
    expect(await readResult(key)).toBe(404);
    sessions.pipeline.deepvue.clearCalls();

    // Later than the second of clock skew the erasure allows after it listed the bucket.
    await setTimeout(1100);
    const again = await upload(key);
    expect(again.eTag).toBe(first.eTag);
    expect((await deliver(again)).batchItemFailures).toEqual([]);

    expect(sessions.pipeline.upstreamChecks()).toBe(1);
    expect(await getResult(key)).toMatchObject({ status: 200, body: { status: 'COMPLETED', result: { sub_code: 'SUCCESS' } } });
    // A late delivery of the erased upload's event is still not checked: the version's claim answers it.
    expect((await deliver(first)).batchItemFailures).toEqual([]);
    expect(sessions.pipeline.upstreamChecks()).toBe(1);
  });

  it.each([
    ['never uploaded', 'uploads/erase/never.jpg'],
    ['outside the upload prefix', 'elsewhere/selfie.jpg'],
    ['longer than S3 allows', `uploads/${'é'.repeat(508)}x`],
  ])('answers 404 NOT_FOUND for a key %s', async (_, key) => {
    expectNotFound(await eraseUpload(key));
  });

  it('answers a key that names nothing 404 without touching the table or the bucket', async () => {
    for (const answer of [await eraseUpload('elsewhere/a.jpg'), await eraseUpload(`uploads/${'a'.repeat(1100)}`), await eraseUpload('%E0%A4%A', (key) => key)]) {
      expectNotFound(answer);
    }
    expect(dynamoFaults.requests + s3Faults.requests).toBe(0);
  });

  it('answers concurrent erasures of one record once 200, the rest 404', async () => {
    const key = 'uploads/erase/concurrent.jpg';
    await deliver(await upload(key));

    const answers = await Promise.all(Array.from({ length: 5 }, () => eraseUpload(key)));

    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 404, 404, 404, 404]);
    expect(erasureLines()).toHaveLength(1);
    expect(await versionsOf(key)).toBe(0);
  });

  it('never answers 404 for a concurrent erasure that failed: another request takes it over and completes it', async () => {
    const key = 'uploads/erase/concurrent-failing.jpg';
    await deliver(await upload(key));
    // The first erasure's deletion of the image fails (each of the SDK's three attempts): it releases its lease.
    s3Faults.inject(s3SlowDown(), 3, isDeleteObjects);

    const answers = await Promise.all([eraseUpload(key), eraseUpload(key)]);

    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 503]);
    expect(answers.find((answer) => answer.status === 200)?.body).toMatchObject({ erased: { result: true, image_versions: 1, digests: 0 } });
    expect(await versionsOf(key)).toBe(0);
    expectNotFound(await eraseUpload(key));
  });

  it('answers 503, not 404, while an unfinished erasure still holds its lease (its release failed), and completes once the lease lapses', async () => {
    const key = 'uploads/erase/lease-held.jpg';
    await deliver(await upload(key));
    // The image's deletion fails, and so does the release of the lease after it: the lease stays, 30 s.
    s3Faults.inject(s3SlowDown(), 10, isDeleteObjects);
    dynamoFaults.inject(dynamoThrottled(), 10, dynamoRequest('UpdateItem', ':ended'));
    const failed = await eraseUpload(key);
    expect(failed.status).toBe(503);
    s3Faults.clear();
    dynamoFaults.clear();

    // A repeat at once, as a client would on a timeout: the image is still there, so nothing says "not held".
    const started = Date.now();
    const repeated = await eraseUpload(key);
    expect(repeated.status).toBe(503);
    expect(repeated.body).toMatchObject({ code: 503, sub_code: 'ERASURE_INCOMPLETE' });
    expect(Number(repeated.headers['retry-after'])).toBeGreaterThanOrEqual(20);
    expect(Number(repeated.headers['retry-after'])).toBeLessThanOrEqual(30);
    // It waited a while for the other erasure to end first.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
    expect(await versionsOf(key)).toBe(1);

    // The lease lapses (as 30 s would): the next repeat takes the erasure over and completes it.
    await table.send(new UpdateItemCommand({
      TableName: RESULTS_TABLE,
      Key: { pk: { S: `s3://${BUCKET}/${key}` } },
      UpdateExpression: 'SET erasing_until = :lapsed',
      ExpressionAttributeValues: { ':lapsed': { N: String(Date.now() - 1) } },
    }));
    expect((await eraseUpload(key)).body).toMatchObject({ erased: { result: true, image_versions: 1, digests: 0 } });
    expect(await versionsOf(key)).toBe(0);
    expectNotFound(await eraseUpload(key));
  });

  it('answers 503 with Retry-After when S3 fails part way; the result is no longer served, and a repeat completes the erasure', async () => {
    const key = 'uploads/erase/s3-fails.jpg';
    await deliver(await upload(key));
    s3Faults.inject(s3SlowDown(), 10, isDeleteObjects);

    const failed = await eraseUpload(key);

    expect(failed.status).toBe(503);
    expect(failed.body).toMatchObject({ code: 503, sub_code: 'ERASURE_INCOMPLETE' });
    expect(failed.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(erasureLines()).toEqual([]);
    expect(await readResult(key)).toBe(404);
    expect(await versionsOf(key)).toBe(1);

    s3Faults.clear();
    const repeated = await eraseUpload(key);

    expect(repeated.body).toMatchObject({ erased: { result: true, image_versions: 1, digests: 0 } });
    expect(await versionsOf(key)).toBe(0);
    expectNotFound(await eraseUpload(key));
  });

  it('answers 503 with Retry-After when DynamoDB fails part way, and a repeat completes the erasure', async () => {
    const key = 'uploads/erase/dynamo-fails.jpg';
    const object = await upload(key);
    await deliver(object);
    // The kept outcome's deletion fails: the result is taken, the image not yet deleted.
    dynamoFaults.inject(dynamoThrottled(), 10, dynamoRequest('DeleteItem'));

    const failed = await eraseUpload(key);

    expect(failed.status).toBe(503);
    expect(failed.body).toMatchObject({ sub_code: 'ERASURE_INCOMPLETE' });
    expect(failed.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(await readResult(key)).toBe(404);
    expect(await versionsOf(key)).toBe(1);

    dynamoFaults.clear();
    expect((await eraseUpload(key)).body).toMatchObject({ erased: { result: true, image_versions: 1, digests: 0 } });
    expect(await versionsOf(key)).toBe(0);
    expect(await versionRecord('upload-outcome', key, object.eTag)).toBeUndefined();
  });

  it('answers 503 when DynamoDB fails before anything was erased, and erases nothing', async () => {
    const key = 'uploads/erase/dynamo-down.jpg';
    await deliver(await upload(key));
    dynamoFaults.inject(dynamoThrottled(), Infinity);

    const failed = await eraseUpload(key);

    expect(failed.status).toBe(503);
    dynamoFaults.clear();
    expect(await readResult(key)).toBe(200);
    expect(await versionsOf(key)).toBe(1);
  });
});

describe('DELETE /v1/liveness-sessions/{id}', () => {
  /** Uploads the selfie through the session's form and has it checked. */
  async function checkedSession(reference: string): Promise<{ id: string; key: string }> {
    const id = await sessions.open(reference);
    expect(await sessions.post(await sessions.form(id), SELFIE)).toBe(204);
    const [stored] = sessions.takeStored();
    if (stored === undefined) throw new Error('nothing stored');
    expect((await deliver(stored)).batchItemFailures).toEqual([]);
    return { id, key: stored.key };
  }

  it('erases a checked session: its record, its image and its result; then every route answers 404 for its id', async () => {
    const { id, key } = await checkedSession('case-erase');
    const read = (await sessions.call('read', { id })).body as Record<string, unknown>;
    expect(read).toMatchObject({ status: 'COMPLETED' });
    const signature = signatureOf(read);
    expect(await tableText()).toContain(signature);

    const answer = await eraseSession(id);

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ erased: { result: true, image_versions: 1, digests: 0 }, erased_at: expect.stringMatching(RECEIPT_TIME) });
    for (const route of ['read', 'progress', 'upload'] as const) expect((await sessions.call(route, { id })).status).toBe(404);
    expect(await readResult(key)).toBe(404);
    expect(await versionsOf(key)).toBe(0);
    expect(await tableText()).not.toContain('case-erase');
    // The session's signature (the same as its key's result's) is gone with both.
    expect(await tableText()).not.toContain(signature);
    // The log names the session by the hash the table keys it by, never by its id.
    expect(erasureLines()).toEqual([expect.stringContaining(key)]);
    expect(sessions.pipeline.output.text()).not.toContain(id);
    expect(sessions.pipeline.output.metricRecords('Erasures')).toEqual([expect.objectContaining({ Erasures: 1, Record: 'session' })]);
  });

  it('erases a session still waiting for its image', async () => {
    const id = await sessions.open('case-waiting');

    expect((await eraseSession(id)).body).toMatchObject({ erased: { result: true, image_versions: 0, digests: 0 } });
    expect((await sessions.call('read', { id })).status).toBe(404);
  });

  it('erases a session while its check runs: the check ends, and neither the session nor the key gets a result', async () => {
    const id = await sessions.open('case-running');
    expect(await sessions.post(await sessions.form(id), SELFIE)).toBe(204);
    const [stored] = sessions.takeStored();
    if (stored === undefined) throw new Error('nothing stored');
    let release = () => undefined as void;
    sessions.pipeline.deepvue.inject('/v1/liveness-check', { kind: 'held', until: new Promise<void>((resolve) => { release = resolve; }) });
    const checking = deliver(stored);
    await expect.poll(() => sessions.pipeline.upstreamChecks()).toBe(1);

    const answer = await eraseSession(id);
    release();

    expect(answer.body).toMatchObject({ erased: { result: true, image_versions: 1, digests: 0 } });
    expect((await checking).batchItemFailures).toEqual([]);
    expect((await sessions.call('read', { id })).status).toBe(404);
    expect(await readResult(stored.key)).toBe(404);
    expect(await heldAt(stored.key)).toEqual([]);
    expect(await tableText()).not.toContain('case-running');
  });

  it('answers 404 NOT_FOUND for an id that is no session, a malformed id, and a session already erased', async () => {
    const { id } = await checkedSession('case-twice');
    expect((await eraseSession(id)).status).toBe(200);

    expectNotFound(await eraseSession(id));
    expectNotFound(await eraseSession('AAAAAAAAAAAAAAAAAAAAAAAA'));
    dynamoFaults.clear();
    expectNotFound(await eraseSession('not-a-session-id'));
    expect(dynamoFaults.requests).toBe(0);
  });

  it('takes the session before it lists the image: an upload landing meanwhile finds no session, is deleted unchecked, and nothing is paid or stored', async () => {
    const id = await sessions.open('case-racing-upload');
    const form = await sessions.form(id);
    let listed = () => undefined as void;
    s3Faults.inject({ kind: 'held', until: new Promise<void>((resolve) => { listed = resolve; }) }, 1, (request) => request.method === 'GET' && (request.url ?? '').includes('versions'));

    const erasing = eraseSession(id);
    // The erasure has listed the key's versions (none yet); its answer is held while the selfie lands.
    await expect.poll(() => s3Faults.faulted).toBe(1);
    expect(await sessions.post(form, SELFIE)).toBe(204);
    const [stored] = sessions.takeStored();
    if (stored === undefined) throw new Error('nothing stored');
    await deliver(stored);
    listed();

    expect((await erasing).body).toMatchObject({ erased: { result: true, image_versions: 0, digests: 0 } });
    // Its message, back while the erasure ran, is delivered again once it has ended.
    expect((await deliver(stored)).batchItemFailures).toEqual([]);
    expect(sessions.pipeline.upstreamChecks()).toBe(0);
    expect(await versionsOf(stored.key)).toBe(0);
    expect(await sessions.pipeline.results.read(BUCKET, stored.key)).not.toMatchObject({ status: 'COMPLETED' });
    expect((await sessions.call('read', { id })).status).toBe(404);
    expect(await tableText()).not.toContain('case-racing-upload');
  });

  it('erases a session through its image key too: DELETE /v1/liveness-results/{its key}', async () => {
    const { id, key } = await checkedSession('case-by-key');

    expect((await eraseUpload(key)).body).toMatchObject({ erased: { result: true, image_versions: 1, digests: 0 } });
    expect((await sessions.call('read', { id })).status).toBe(404);
    expectNotFound(await eraseSession(id));
  });
});
