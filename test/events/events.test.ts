import { readdirSync, readFileSync } from 'node:fs';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEvent, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createTable, startDynalite, type RunningDynalite } from '../support/dynalite.ts';
import { callApi, lambdaContext, loadFunction, type RestHandler } from '../support/lambda.ts';
import { captureOutput, type CapturedOutput } from '../support/output.ts';
import { fixtureImage } from '../support/relay.ts';
import { localS3Config, S3RVER_CREDENTIALS, startS3rver, type RunningS3 } from '../support/s3rver.ts';

/**
 * The sample events of events/, one or more per function (`<function>.json`,
 * `<function>.<route>.json`), as `npx serverless invoke local --function <function> --path
 * events/<file>` hands them to the handler: each one is run through its function's handler here,
 * in a local run (the sandbox for Deepvue) on loopback servers named as npm start names its own,
 * and its answer checked. test/deploy/template.test.ts runs the real `serverless invoke local`
 * with events/livenessCheck.json.
 */
const EVENTS = new URL('../../events/', import.meta.url);
const BUCKET = 'liveness-relay-local-uploads';
const RESULTS_TABLE = 'liveness-relay-local-results';

const functions = (parse(readFileSync(new URL('../../serverless.yml', import.meta.url), 'utf8')) as { functions: Record<string, { handler: string }> }).functions;
const eventFiles = readdirSync(EVENTS).filter((name) => name.endsWith('.json')).sort();
const functionOf = (file: string) => file.split('.')[0] ?? '';
const event = (file: string): unknown => JSON.parse(readFileSync(new URL(file, EVENTS), 'utf8'));

let dynamo: RunningDynalite;
let s3: RunningS3;
let output: CapturedOutput;
let env: Record<string, string | undefined>;

/** The function of serverless.yml `key`, loaded as `invoke local` loads it: a new container, IS_LOCAL set. */
async function load(key: string): Promise<RestHandler> {
  const [file = ''] = (functions[key]?.handler ?? '').split('.');
  return loadFunction(file.replace(/^functions\//, ''), { ...env, AWS_LAMBDA_FUNCTION_NAME: `liveness-relay-local-${key}` });
}

beforeAll(async () => {
  [dynamo, s3] = await Promise.all([startDynalite(), startS3rver([BUCKET])]);
  await createTable(dynamo.endpoint, RESULTS_TABLE);
  const client = new S3Client(localS3Config(s3.endpoint));
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/face.png', Body: fixtureImage('face.png') }));
  client.destroy();
  output = captureOutput();
  // Every variable the relay or the SDK reads is set or cleared, so nothing leaks in from the shell.
  env = {
    IS_LOCAL: 'true',
    IS_OFFLINE: undefined,
    DEEPVUE_BASE_URL: undefined,
    DEEPVUE_SECRET_ID: undefined,
    SIGNING_KEY_SECRET_ID: undefined,
    DEEPVUE_CLIENT_ID: undefined,
    DEEPVUE_CLIENT_SECRET: undefined,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    TOKEN_TABLE: undefined,
    RESULTS_TABLE,
    UPLOAD_BUCKET: BUCKET,
    UPLOAD_PREFIX: 'uploads/',
    EVENT_BUS_NAME: undefined,
    MAX_IMAGE_BYTES: undefined,
    UPSTREAM_DEADLINE_MS: undefined,
    DEEPVUE_RATE_LIMITS: undefined,
    CAPTURE_PAGE_URL: undefined,
    METRICS_NAMESPACE: 'LivenessRelayTest',
    POWERTOOLS_DEV: undefined,
  };
}, 60_000);
afterAll(async () => {
  output?.restore();
  await Promise.all([dynamo?.close(), s3?.close()]);
});

describe('events/', () => {
  it('holds at least one sample event for every function of serverless.yml, and none for a function it lacks', () => {
    expect([...new Set(eventFiles.map(functionOf))].sort()).toEqual(Object.keys(functions).sort());
  });

  it('s3Upload.json: an upload notification through the queue; the image is checked and its result recorded', async () => {
    const handler = (await load('s3Upload')) as unknown as (event: SQSEvent, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;
    expect(await handler(event('s3Upload.json') as SQSEvent, lambdaContext(30_000))).toEqual({ batchItemFailures: [] });
  });

  // After s3Upload.json: the result of its image is then stored.
  it.each<[string, number, Record<string, unknown>]>([
    ['livenessCheck.json', 200, { sub_code: 'SUCCESS', data: { is_live: true, score: null } }],
    ['livenessResult.json', 200, { key: 'uploads/face.png', status: 'COMPLETED', result: expect.objectContaining({ sub_code: 'SUCCESS' }) }],
    // After livenessResult.json: the result is erased; its image was deleted once checked.
    ['livenessErasure.results.json', 200, { erased: { result: true, image_versions: 0, digests: 0 } }],
    ['livenessErasure.session.json', 404, { sub_code: 'NOT_FOUND' }],
    ['livenessSessions.open.json', 201, { capture_url: expect.stringMatching(/^https:\/\/abcdef1234\.execute-api\.us-east-1\.amazonaws\.com\/prod\/capture#/) }],
    // The sample id names no session of this run.
    ['livenessSessions.read.json', 404, { sub_code: 'NOT_FOUND' }],
    ['livenessSessions.upload.json', 404, { sub_code: 'NOT_FOUND' }],
    ['livenessSessions.progress.json', 404, { sub_code: 'NOT_FOUND' }],
    // A local run without SIGNING_KEY_SECRET_ID: the key generated at start.
    ['jwks.json', 200, { keys: [expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' })] }],
  ])('%s: %i, as docs/openapi.yaml documents it', async (file, status, body) => {
    const sample = event(file) as APIGatewayProxyEvent;
    const answer = await callApi(await load(functionOf(file)), sample, 29_000);
    expect({ status: answer.status, body: answer.body }).toEqual({ status, body: expect.objectContaining(body) });
    expect(answer.headers['x-request-id']).toBe(sample.requestContext.requestId);
  });

  it('capturePage.json: the capture page', async () => {
    const answer = await callApi(await load('capturePage'), event('capturePage.json') as APIGatewayProxyEvent, 5000);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
  });

  it('covers every sample event in the tests above', () => {
    const exercised = ['s3Upload.json', 'livenessCheck.json', 'livenessResult.json', 'livenessErasure.results.json', 'livenessErasure.session.json', 'livenessSessions.open.json', 'livenessSessions.read.json',
      'livenessSessions.upload.json', 'livenessSessions.progress.json', 'capturePage.json', 'jwks.json'];
    expect(eventFiles).toEqual(exercised.sort());
  });
});
