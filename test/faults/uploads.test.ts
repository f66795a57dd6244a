import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { StoredResult } from '../../lib/uploads/stored-results.ts';
import type { StoredObject } from '../../lib/uploads/notifications.ts';
import { refusedUrl } from '../support/blackhole.ts';
import { CHECK, documented, faults, type Fault } from '../support/deepvue-emulator.ts';
import {
  dynamoRequest,
  dynamoThrottled,
  isGetObject,
  s3AccessDenied,
  s3PreconditionFailed,
  s3SlowDown,
  startFaultProxy,
  type FaultProxy,
  type ProxyFault,
} from '../support/fault-proxy.ts';
import { CLIENT, fixtureImage, SECRET_ID, secretValue } from '../support/relay.ts';
import { signingKeySecret, SIGNING_KEY_SECRET_ID, startSecretsManager, type SecretsManagerEndpoint } from '../support/secrets-manager.ts';
import { BUCKET, MAX_RECEIVE_COUNT, usePipeline } from '../support/uploads.ts';

/**
 * The fault matrix of the upload path. Each case delivers one object's message the way SQS
 * does (again after every reported failure, until the queue's last receive sends it to the
 * dead-letter queue) and checks how it ends: every case ends with a COMPLETED, REJECTED or
 * FAILED record, never none, as long as the results table can be written at all.
 */
const PHOTO = fixtureImage('spoof-printed-photo.jpg');
/** 4.5 s left in the invocation: 3 s are kept for recording, so a hang costs 1.5 s per receive. */
const SHORT_TIME = 4500;

const pipeline = usePipeline();
let s3: FaultProxy;
let dynamo: FaultProxy;
let secrets: SecretsManagerEndpoint;
let sequence = 0;

beforeAll(async () => {
  [s3, dynamo, secrets] = await Promise.all([
    startFaultProxy(pipeline.s3Server.endpoint),
    startFaultProxy(pipeline.dynamo.endpoint),
    startSecretsManager({ [SECRET_ID]: secretValue(CLIENT.id, CLIENT.secret), [SIGNING_KEY_SECRET_ID]: signingKeySecret() }),
  ]);
});
afterAll(async () => {
  await Promise.all([s3.close(), dynamo.close(), secrets.close()]);
});
beforeEach(async () => {
  s3.clear();
  dynamo.clear();
  secrets.failNext(0);
  // A fresh container reaching S3 and DynamoDB through the fault proxies.
  await pipeline.restart({ AWS_ENDPOINT_URL_S3: s3.url, AWS_ENDPOINT_URL_DYNAMODB: dynamo.url });
  pipeline.deepvue.clearCalls();
  pipeline.output.clear();
});

interface Ending {
  /** Receives it took; MAX_RECEIVE_COUNT when every one failed. */
  receives: number;
  /** Reported failed on its last receive: SQS moves it to the dead-letter queue. */
  deadLettered: boolean;
  record: StoredResult | undefined;
}

/** Uploads a photo and plays its message through the queue's receives until it is done or dead-lettered. */
async function uploadAndDeliver(
  options: { body?: Uint8Array; remainingMs?: number; beforeReceive?: (receive: number, object: StoredObject) => unknown } = {},
): Promise<Ending> {
  sequence += 1;
  const object = await pipeline.put(`uploads/faults/${sequence}.jpg`, options.body ?? PHOTO);
  const messageId = `m-${sequence}`;
  for (let receive = 1; receive <= MAX_RECEIVE_COUNT; receive += 1) {
    await options.beforeReceive?.(receive, object);
    const answer = await pipeline.deliver([{ object, messageId, receiveCount: receive }], options.remainingMs);
    const failed = answer.batchItemFailures.some((failure) => failure.itemIdentifier === messageId);
    if (!failed) return { receives: receive, deadLettered: false, record: await pipeline.results.read(BUCKET, object.key) };
    if (receive === MAX_RECEIVE_COUNT) return { receives: receive, deadLettered: true, record: await pipeline.results.read(BUCKET, object.key) };
  }
  throw new Error('unreachable: the loop returns on its last receive');
}

/** An ending with a record of `status` and `subCode`, counted once in the metrics. */
function expectRecorded(ending: Ending, status: string, subCode: string, receives: number): void {
  expect(ending.record).toMatchObject({ bucket: BUCKET, status, result: { sub_code: subCode } });
  expect(ending.receives).toBe(receives);
  expect(pipeline.output.checkRecords().filter((record) => record.source === 's3').map((record) => record.subCode)).toEqual([subCode]);
}

/** Every receive fails: the last one records FAILED and sends the message on to the dead-letter queue. */
function expectFailedAtLastReceive(ending: Ending, subCode: string): void {
  expectRecorded(ending, 'FAILED', subCode, MAX_RECEIVE_COUNT);
  expect(ending.deadLettered).toBe(true);
}

describe('S3', () => {
  it('object gone before it is read → FAILED NOT_FOUND at once, no upstream call', async () => {
    const ending = await uploadAndDeliver({
      beforeReceive: (_, object) => pipeline.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: object.key })),
    });
    expectRecorded(ending, 'FAILED', 'NOT_FOUND', 1);
    expect(pipeline.upstreamChecks()).toBe(0);
  });

  it('object replaced by a newer upload before it is read → this version FAILED NOT_FOUND, the newer bytes never checked under its name', async () => {
    // S3 answers the relay's If-Match GET with 412 once the ETag changed; s3rver ignores If-Match, the proxy plays S3.
    s3.inject(s3PreconditionFailed(), 1, (request) => isGetObject(request) && request.headers['if-match'] !== undefined);
    const ending = await uploadAndDeliver({
      beforeReceive: (_, object) => pipeline.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: object.key, Body: fixtureImage('face.png') })),
    });
    expectRecorded(ending, 'FAILED', 'NOT_FOUND', 1);
    expect(s3.faulted).toBe(1);
    expect(pipeline.upstreamChecks()).toBe(0);
  });

  it.each<[string, () => ProxyFault]>([
    ['access denied (403 AccessDenied)', s3AccessDenied],
    ['throttling (503 SlowDown, after the SDK’s own retries)', s3SlowDown],
    ['connection resets', () => ({ kind: 'reset' })],
  ])('GetObject failing with %s on every receive → FAILED on the last receive, then the dead-letter queue', async (_, fault) => {
    s3.inject(fault(), Infinity, isGetObject);
    expectFailedAtLastReceive(await uploadAndDeliver(), 'INTERNAL_SERVER_ERROR');
    expect(pipeline.upstreamChecks()).toBe(0);
  });

  it('GetObject never answering on every receive → FAILED on the last receive, each receive within its time', async () => {
    s3.inject({ kind: 'hang' }, Infinity, isGetObject);
    const started = Date.now();
    expectFailedAtLastReceive(await uploadAndDeliver({ remainingMs: SHORT_TIME }), 'INTERNAL_SERVER_ERROR');
    expect(Date.now() - started).toBeLessThan(MAX_RECEIVE_COUNT * SHORT_TIME);
  });

  it('access denied once → the next receive checks and records COMPLETED', async () => {
    s3.inject(s3AccessDenied(), 1, isGetObject);
    expectRecorded(await uploadAndDeliver(), 'COMPLETED', 'SUCCESS', 2);
    expect(pipeline.upstreamChecks()).toBe(1);
  });

  it('tagging denied → COMPLETED all the same: tags are best-effort', async () => {
    s3.inject(s3AccessDenied(), Infinity, (request) => (request.url ?? '').includes('tagging'));
    expectRecorded(await uploadAndDeliver(), 'COMPLETED', 'SUCCESS', 1);
  });
});

describe('Deepvue', () => {
  it.each<[string, Fault, string]>([
    ['503 Source Unavailable', faults.unavailable(), 'UPSTREAM_UNAVAILABLE'],
    ['429 Retry-After: 1', faults.rateLimited(1), 'RATE_LIMITED'],
    ['a 500 envelope', faults.serverError(), 'INTERNAL_SERVER_ERROR'],
    ['a reset in the middle of the body', faults.cut(), 'UPSTREAM_UNAVAILABLE'],
    ['200 with truncated JSON', { kind: 'reply', status: 200, body: '{"code": 200, "sub_co' }, 'UPSTREAM_ERROR'],
  ])('%s on every receive → FAILED on the last receive, one upstream call per receive', async (_, fault, subCode) => {
    pipeline.deepvue.inject(CHECK, fault, MAX_RECEIVE_COUNT);
    expectFailedAtLastReceive(await uploadAndDeliver(), subCode);
    expect(pipeline.upstreamChecks()).toBe(MAX_RECEIVE_COUNT);
  });

  it('no answer on every receive → FAILED UPSTREAM_TIMEOUT on the last receive', async () => {
    pipeline.deepvue.inject(CHECK, faults.hang(), MAX_RECEIVE_COUNT);
    expectFailedAtLastReceive(await uploadAndDeliver({ remainingMs: SHORT_TIME }), 'UPSTREAM_TIMEOUT');
  });

  it('401 on every call (a renewal each receive) → FAILED UPSTREAM_AUTH_FAILED on the last receive', async () => {
    pipeline.deepvue.inject(CHECK, faults.invalidToken(), 2 * MAX_RECEIVE_COUNT);
    expectFailedAtLastReceive(await uploadAndDeliver(), 'UPSTREAM_AUTH_FAILED');
  });

  it('a 503 burst on the first receive only → COMPLETED on the second', async () => {
    pipeline.deepvue.inject(CHECK, faults.unavailable(), 1);
    expectRecorded(await uploadAndDeliver(), 'COMPLETED', 'SUCCESS', 2);
  });

  it('FACE_NOT_DETECTED → COMPLETED with Deepvue’s envelope: an answer, not a fault', async () => {
    pipeline.deepvue.inject(CHECK, documented('liveness-face-not-detected'));
    expectRecorded(await uploadAndDeliver(), 'COMPLETED', 'FACE_NOT_DETECTED', 1);
  });
});

describe('Secrets Manager', () => {
  it('failing at a cold start on every receive → FAILED UPSTREAM_UNAVAILABLE on the last receive, no upstream call', async () => {
    // The Deepvue secret: without the signing key no check is made at all (test/functions/verdict-signing.test.ts).
    secrets.failNext(1000, 'error', SECRET_ID);
    await pipeline.restart({
      AWS_ENDPOINT_URL_S3: s3.url,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      DEEPVUE_SECRET_ID: SECRET_ID,
      DEEPVUE_CLIENT_ID: undefined,
      DEEPVUE_CLIENT_SECRET: undefined,
    });
    expectFailedAtLastReceive(await uploadAndDeliver(), 'UPSTREAM_UNAVAILABLE');
    expect(pipeline.deepvue.calls()).toHaveLength(0);
  });
});

describe('results table (DynamoDB)', () => {
  it('throttling every request during the first receive → the message returns, and the second receive records COMPLETED', async () => {
    const ending = await uploadAndDeliver({
      beforeReceive: (receive) => (receive === 1 ? dynamo.inject(dynamoThrottled(), Infinity) : dynamo.clear()),
    });
    expectRecorded(ending, 'COMPLETED', 'SUCCESS', 2);
    // No claim could be taken on the first receive, so Deepvue was asked once.
    expect(pipeline.upstreamChecks()).toBe(1);
  });

  it('throttling once → absorbed by the SDK’s retry: COMPLETED on the first receive', async () => {
    dynamo.inject(dynamoThrottled(), 1);
    expectRecorded(await uploadAndDeliver(), 'COMPLETED', 'SUCCESS', 1);
    expect(dynamo.faulted).toBe(1);
  });

  it('down through every receive → nothing can be recorded: the message is dead-lettered, not dropped, and its redrive records COMPLETED', async () => {
    await pipeline.restart({ AWS_ENDPOINT_URL_S3: s3.url, AWS_ENDPOINT_URL_DYNAMODB: await refusedUrl() });
    let object: StoredObject | undefined;
    const ending = await uploadAndDeliver({ beforeReceive: (_, stored) => void (object = stored) });
    expect(ending).toEqual({ receives: MAX_RECEIVE_COUNT, deadLettered: true, record: undefined });
    // No claim could be taken, so Deepvue was never asked.
    expect(pipeline.upstreamChecks()).toBe(0);

    // The table is back; the operator redrives the dead-letter queue.
    if (object === undefined) throw new Error('no object was delivered');
    await pipeline.restart({ AWS_ENDPOINT_URL_S3: s3.url, AWS_ENDPOINT_URL_DYNAMODB: dynamo.url });
    expect(await pipeline.deliver([{ object, messageId: 'm-redrive' }])).toEqual({ batchItemFailures: [] });
    expect(await pipeline.results.read(BUCKET, object.key)).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
    expect(pipeline.upstreamChecks()).toBe(1);
  });

  it('failing only the result write, after Deepvue answered → the message returns, and the next receive, in another container, writes the kept outcome without paying again', async () => {
    const resultWrite = dynamoRequest('PutItem', '"S":"s3://');
    const ending = await uploadAndDeliver({
      beforeReceive: async (receive) => {
        if (receive === 1) return dynamo.inject(dynamoThrottled(), Infinity, resultWrite);
        dynamo.clear();
        // A fresh container: the outcome comes from its record in the table, not from memory.
        await pipeline.restart({ AWS_ENDPOINT_URL_S3: s3.url, AWS_ENDPOINT_URL_DYNAMODB: dynamo.url });
      },
    });
    expectRecorded(ending, 'COMPLETED', 'SUCCESS', 2);
    expect(pipeline.upstreamChecks()).toBe(1);
    expect(pipeline.output.paidCallsAvoided()).toEqual(['idempotent-replay']);
    // The one check's cost is counted once, when its result is written.
    expect(pipeline.output.metricRecords('UpstreamAttempts')).toHaveLength(1);
  });

  it('failing whole from the moment Deepvue answered → nothing can be kept in the table, yet the same container writes the outcome on the next receive without paying again', async () => {
    let answered = false;
    pipeline.deepvue.inject(CHECK, documented('liveness-success'));
    const ending = await uploadAndDeliver({
      // The claims' leases end with the invocation; the queue's visibility timeout outlasts them.
      remainingMs: SHORT_TIME,
      beforeReceive: async (receive) => {
        if (receive === 1) return dynamo.inject({ kind: 'reset' }, Infinity, () => (answered ||= pipeline.upstreamChecks() > 0));
        dynamo.clear();
        await sleep(SHORT_TIME);
      },
    });
    expectRecorded(ending, 'COMPLETED', 'SUCCESS', 2);
    expect(pipeline.upstreamChecks()).toBe(1);
    expect(ending.record?.result).toMatchObject({ data: { is_live: true, score: null } });
  });
});
