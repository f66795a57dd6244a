import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayEnvelope } from '../../lib/platform/envelope.ts';
import { eventOrder } from '../../lib/uploads/results.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { callApi, loadFunction, restEvent, type RestHandler } from '../support/lambda.ts';
import { fixtureImage, sandboxBody } from '../support/relay.ts';
import { BUCKET, usePipeline } from '../support/uploads.ts';

const KEY = 'uploads/Ana María/selfie 1.jpg';
const SELFIE = fixtureImage('live-selfie-exif-rotated.jpg');

const pipeline = usePipeline();
let handler: RestHandler;
/** Between the function and dynalite, counting the requests the function makes. */
let dynamo: FaultProxy;
let eTag: string;

beforeAll(async () => {
  const object = await pipeline.put(KEY, SELFIE);
  eTag = object.eTag;
  const upload = await pipeline.deliver([{ object }]);
  expect(upload.batchItemFailures).toEqual([]);
  dynamo = await startFaultProxy(pipeline.dynamo.endpoint);
  handler = await loadFunction('liveness-result', { ...pipeline.env, AWS_LAMBDA_FUNCTION_NAME: 'livenessResult', AWS_ENDPOINT_URL_DYNAMODB: dynamo.url });
});
afterAll(() => dynamo.close());

/** GET /v1/liveness-results/{key+} with the path parameter as API Gateway passes it, still encoded. */
async function get(encodedKey: string) {
  const event = { ...restEvent('GET', `/v1/liveness-results/${encodedKey}`, { body: null, headers: {} }), pathParameters: { key: encodedKey } };
  const { status, headers, body } = await callApi(handler, event, 10_000);
  expect(headers).toEqual({ 'content-type': 'application/json', 'x-request-id': event.requestContext.requestId });
  return { status, body: body as Record<string, unknown> };
}

describe('GET /v1/liveness-results/{key+}', () => {
  it('answers 200 with the stored result of an uploaded image, naming the version and the bytes checked', async () => {
    expect(await get(encodeURIComponent(KEY))).toEqual({
      status: 200,
      body: {
        bucket: BUCKET,
        key: KEY,
        image: { bucket: BUCKET, key: KEY, version: eTag, version_id: null, etag: eTag, sha256: createHash('sha256').update(SELFIE).digest('hex') },
        status: 'COMPLETED',
        checked_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        result: sandboxBody('liveness-success'),
        signature: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      },
    });
  });

  it('accepts the key with its slashes unencoded', async () => {
    const answer = await get(KEY.split('/').map(encodeURIComponent).join('/'));
    expect(answer).toMatchObject({ status: 200, body: { key: KEY } });
  });

  it('answers 404 NOT_FOUND for a key without a result', async () => {
    for (const key of [encodeURIComponent('uploads/never-uploaded.jpg'), encodeURIComponent(KEY.toUpperCase()), '%E0%A4%A']) {
      const answer = await get(key);
      expect(answer).toEqual({
        status: 404,
        body: { code: 404, timestamp: expect.any(Number), transaction_id: expect.any(String), sub_code: 'NOT_FOUND', message: expect.any(String) },
      });
    }
  });

  it.each([
    ['2,015 × a (over DynamoDB’s key limit too)', 'a'.repeat(2015)],
    ['400 × € (400 characters, but 1,200 bytes of UTF-8)', '€'.repeat(400)],
    ['1,025 bytes', `uploads/${'é'.repeat(508)}x`],
  ])('answers 404 NOT_FOUND for a key longer than S3 allows, %s, without reading the table', async (_, key) => {
    expect(Buffer.byteLength(key)).toBeGreaterThan(1024);
    dynamo.clear();
    const answer = await get(encodeURIComponent(key));
    expect(answer).toMatchObject({ status: 404, body: { code: 404, sub_code: 'NOT_FOUND' } });
    expect(dynamo.requests).toBe(0);
  });

  it('reads a key of exactly 1,024 bytes', async () => {
    const key = `uploads/${'é'.repeat(508)}`;
    expect(Buffer.byteLength(key)).toBe(1024);
    await pipeline.results.record({
      bucket: BUCKET, key, version: 'v1', status: 'REJECTED', checkedAt: new Date(),
      result: relayEnvelope('UNSUPPORTED_IMAGE_FORMAT', 'image must be a JPEG, PNG or WebP file'), order: eventOrder('01', undefined),
    });
    dynamo.clear();
    expect(await get(encodeURIComponent(key))).toMatchObject({ status: 200, body: { key, status: 'REJECTED' } });
    expect(dynamo.requests).toBe(1);
  });

  it('answers 500 INTERNAL_SERVER_ERROR when the results table cannot be read', async () => {
    const broken = await loadFunction('liveness-result', { ...pipeline.env, AWS_LAMBDA_FUNCTION_NAME: 'livenessResult', RESULTS_TABLE: 'no-such-table' });
    const event = { ...restEvent('GET', '/v1/liveness-results/x', { body: null, headers: {} }), pathParameters: { key: encodeURIComponent(KEY) } };
    const answer = await callApi(broken, event, 10_000);
    expect(answer.status).toBe(500);
    expect(answer.body).toMatchObject({ code: 500, sub_code: 'INTERNAL_SERVER_ERROR' });
    expect(answer.headers).toMatchObject({ 'content-type': 'application/json', 'x-request-id': event.requestContext.requestId });
  });
});
