import type { APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCUMENTED_ANSWERS } from '../../lib/deepvue/documented.ts';
import { lambdaContext, loadFunction, restEvent, type RestHandler } from '../support/lambda.ts';
import { fixtureImage } from '../support/relay.ts';
import { BUCKET, startUploadPipeline, type UploadPipeline } from '../support/uploads.ts';

const KEY = 'uploads/Ana María/selfie 1.jpg';

let pipeline: UploadPipeline;
let handler: RestHandler;

beforeAll(async () => {
  pipeline = await startUploadPipeline();
  const object = await pipeline.put(KEY, fixtureImage('live-selfie-exif-rotated.jpg'));
  const upload = await pipeline.deliver([{ object }]);
  expect(upload.batchItemFailures).toEqual([]);
  handler = await loadFunction('liveness-result', { ...pipeline.env, AWS_LAMBDA_FUNCTION_NAME: 'livenessResult' });
});
afterAll(() => pipeline.close());

/** GET /v1/liveness-results/{key+} with the path parameter as API Gateway passes it, still encoded. */
async function get(encodedKey: string) {
  const event = { ...restEvent('GET', `/v1/liveness-results/${encodedKey}`, { body: null, headers: {} }), pathParameters: { key: encodedKey } };
  const result = (await handler(event, lambdaContext(10_000))) as APIGatewayProxyResult;
  expect(result.headers).toEqual({ 'content-type': 'application/json', 'x-request-id': event.requestContext.requestId });
  return { status: result.statusCode, body: JSON.parse(result.body) as Record<string, unknown> };
}

describe('GET /v1/liveness-results/{key+}', () => {
  it('answers 200 with the stored result of an uploaded image', async () => {
    expect(await get(encodeURIComponent(KEY))).toEqual({
      status: 200,
      body: {
        bucket: BUCKET,
        key: KEY,
        status: 'COMPLETED',
        checked_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        result: { ...DOCUMENTED_ANSWERS['liveness-success'].body, transaction_id: expect.any(String) },
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

  it('answers 500 INTERNAL_SERVER_ERROR when the results table cannot be read', async () => {
    const broken = await loadFunction('liveness-result', { ...pipeline.env, AWS_LAMBDA_FUNCTION_NAME: 'livenessResult', RESULTS_TABLE: 'no-such-table' });
    const event = { ...restEvent('GET', '/v1/liveness-results/x', { body: null, headers: {} }), pathParameters: { key: encodeURIComponent(KEY) } };
    const result = (await broken(event, lambdaContext(10_000))) as APIGatewayProxyResult;
    expect(result.statusCode).toBe(500);
    expect(JSON.parse(result.body)).toMatchObject({ code: 500, sub_code: 'INTERNAL_SERVER_ERROR' });
    expect(result.headers).toMatchObject({ 'content-type': 'application/json', 'x-request-id': event.requestContext.requestId });
  });
});
