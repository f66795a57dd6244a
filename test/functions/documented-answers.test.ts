import { GetObjectTaggingCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DOCUMENTED_ANSWERS, type DocumentedAnswerName } from '../../lib/deepvue/documented.ts';
import { AUTHORIZE, CHECK } from '../support/deepvue-emulator.ts';
import { metricRecords } from '../support/emf.ts';
import { callApi, loadFunction, restEvent, type RestHandler } from '../support/lambda.ts';
import { expectAnswerHeaders, expectRelayAnswer, fixtureImage, sandboxBody, useRelay } from '../support/relay.ts';
import { BUCKET, MAX_RECEIVE_COUNT, usePipeline } from '../support/uploads.ts';

/**
 * Deepvue's documented answers (test/fixtures/deepvue/, byte for byte from its documentation
 * page) are the test world: the module the sandbox answers from equals them, and each file,
 * sent exactly as it is, goes through the HTTP path and the upload path of the relay.
 */
const FIXTURES = new URL('../fixtures/deepvue/', import.meta.url);
const FILES = readdirSync(FIXTURES).filter((name) => name.endsWith('.json')).sort();
const fileText = (file: string): string => readFileSync(new URL(file, FIXTURES), 'utf8');
const nameOf = (file: string) => file.replace(/\.json$/, '') as DocumentedAnswerName;

const PHOTO = fixtureImage('face-480p.jpg');

/** The envelopes (every file but the `{"detail"}` ones), relayed as sent. */
const ENVELOPES = FILES.filter((file) => file.startsWith('liveness-'));
/** Answers to a well-formed check: relayed to the caller, recorded COMPLETED for an upload. */
const ANSWERS = ENVELOPES.filter((file) => DOCUMENTED_ANSWERS[nameOf(file)].status < 500);
/** The documented 401s: the token is renewed once and the call repeated once. */
const UNAUTHORIZED = ['detail-not-a-valid-token.json', 'detail-not-authenticated.json'];
const INACTIVE_CLIENT = 'detail-inactive-client.json';

/** The documented answer `file` as the emulator sends it: its text exactly, with its documented status. */
const reply = (file: string) => ({ kind: 'reply' as const, status: DOCUMENTED_ANSWERS[nameOf(file)].status, body: fileText(file) });

describe('the documented answers', () => {
  it('are the eight bodies of Deepvue’s documentation page', () => {
    expect(FILES).toEqual([
      'detail-inactive-client.json',
      'detail-not-a-valid-token.json',
      'detail-not-authenticated.json',
      'liveness-face-not-detected.json',
      'liveness-internal-server-error.json',
      'liveness-invalid-base64.json',
      'liveness-invalid-url.json',
      'liveness-success.json',
    ]);
  });

  it('are what the sandbox’s module holds, body for body, so the two cannot drift apart', () => {
    expect(Object.keys(DOCUMENTED_ANSWERS).sort()).toEqual(FILES.map(nameOf));
    for (const file of FILES) expect(DOCUMENTED_ANSWERS[nameOf(file)].body, file).toEqual(JSON.parse(fileText(file)));
  });

  it('say what a hand-made emulator tends to get wrong', () => {
    for (const file of ENVELOPES) {
      const body = JSON.parse(fileText(file)) as Record<string, unknown>;
      expect(body, file).toMatchObject({ code: DOCUMENTED_ANSWERS[nameOf(file)].status, timestamp: null, transaction_id: 'string' });
      expect('data' in body, file).toBe(file === 'liveness-success.json');
    }
    expect(JSON.parse(fileText('liveness-success.json'))).toMatchObject({ data: { is_live: true, score: null } });
  });
});

describe('each documented answer through POST /v1/liveness-check', () => {
  // A warm container holding a token: the calls counted are the check's own.
  const relay = useRelay({ beforeEach: (relay) => relay.post(PHOTO.toString('base64')) });

  const verdicts = () => metricRecords(relay.output.text()).filter((record) => 'LivenessVerdict' in record.metrics).map((record) => record.dimensions.Verdict);

  it.each(ANSWERS)('%s is relayed as sent, with its status, after one call', async (file) => {
    relay.deepvue.inject(CHECK, reply(file));
    const answer = await relay.post(PHOTO.toString('base64'));

    const sent = JSON.parse(fileText(file)) as { sub_code: string };
    expect({ status: answer.status, body: answer.body }).toEqual({ status: DOCUMENTED_ANSWERS[nameOf(file)].status, body: sent });
    expectAnswerHeaders(answer);
    expect(relay.upstreamCalls(CHECK)).toBe(1);
    expect(relay.output.checkRecords()).toEqual([{ namespace: 'LivenessRelayTest', subCode: sent.sub_code, source: 'api' }]);
    expect(verdicts()).toEqual(file === 'liveness-success.json' ? ['live'] : []);
  });

  it('liveness-internal-server-error.json is retried, and relayed as sent when every attempt gets it', async () => {
    relay.deepvue.inject(CHECK, reply('liveness-internal-server-error.json'), 3);
    const answer = await relay.post(PHOTO.toString('base64'));

    expect({ status: answer.status, body: answer.body }).toEqual({ status: 500, body: JSON.parse(fileText('liveness-internal-server-error.json')) });
    expectAnswerHeaders(answer);
    expect(relay.upstreamCalls(CHECK)).toBe(3);
    expect(relay.output.checkRecords()).toEqual([{ namespace: 'LivenessRelayTest', subCode: 'INTERNAL_SERVER_ERROR', source: 'api' }]);
  });

  it('liveness-internal-server-error.json once, then an answer → that answer', async () => {
    relay.deepvue.inject(CHECK, reply('liveness-internal-server-error.json'));
    const answer = await relay.post(PHOTO.toString('base64'));
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: sandboxBody('liveness-success') });
    expect(relay.upstreamCalls(CHECK)).toBe(2);
  });

  it.each(UNAUTHORIZED)('%s once → the token is renewed once and the check repeated once', async (file) => {
    relay.deepvue.inject(CHECK, reply(file));
    const answer = await relay.post(PHOTO.toString('base64'));

    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: sandboxBody('liveness-success') });
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
    const [first, second] = relay.deepvue.calls(CHECK).map((call) => call.headers.authorization);
    expect(relay.upstreamCalls(CHECK)).toBe(2);
    expect(second).not.toBe(first);
  });

  it.each(UNAUTHORIZED)('%s again after the renewal → 502 UPSTREAM_AUTH_FAILED', async (file) => {
    relay.deepvue.inject(CHECK, reply(file), 2);
    expectRelayAnswer(await relay.post(PHOTO.toString('base64')), 502, 'UPSTREAM_AUTH_FAILED');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
    expect(relay.upstreamCalls(CHECK)).toBe(2);
  });

  it.each(UNAUTHORIZED)('%s from authorize → 502 UPSTREAM_AUTH_FAILED without a check', async (file) => {
    await relay.restart();
    relay.deepvue.inject(AUTHORIZE, reply(file));
    expectRelayAnswer(await relay.post(PHOTO.toString('base64')), 502, 'UPSTREAM_AUTH_FAILED');
    expect(relay.upstreamCalls(CHECK)).toBe(0);
  });

  it(`${INACTIVE_CLIENT} from a check → 502 UPSTREAM_AUTH_FAILED, not retried`, async () => {
    relay.deepvue.inject(CHECK, reply(INACTIVE_CLIENT));
    expectRelayAnswer(await relay.post(PHOTO.toString('base64')), 502, 'UPSTREAM_AUTH_FAILED');
    expect(relay.upstreamCalls(CHECK)).toBe(1);
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(0);
  });

  it(`${INACTIVE_CLIENT} from authorize → 502 UPSTREAM_AUTH_FAILED without a check`, async () => {
    await relay.restart();
    relay.deepvue.inject(AUTHORIZE, reply(INACTIVE_CLIENT));
    expectRelayAnswer(await relay.post(PHOTO.toString('base64')), 502, 'UPSTREAM_AUTH_FAILED');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
    expect(relay.upstreamCalls(CHECK)).toBe(0);
  });
});

describe('each documented answer through an uploaded image', () => {
  // Images kept after their check, so that their tags can be read.
  const pipeline = usePipeline({ KEEP_UPLOADS_HOURS: '24' });
  let results: RestHandler;
  let sequence = 0;

  beforeAll(async () => {
    results = await loadFunction('liveness-result', { ...pipeline.env, AWS_LAMBDA_FUNCTION_NAME: 'livenessResult' });
    await pipeline.restart();
  });
  beforeEach(() => {
    pipeline.deepvue.clearCalls();
    pipeline.events.clear();
    pipeline.output.clear();
  });

  /** Uploads a photograph under a fresh key and delivers its notification `receiveCount` times, counting from 1. */
  async function upload(receives: number[] = [1]) {
    sequence += 1;
    const object = await pipeline.put(`uploads/documented/${sequence}.jpg`, PHOTO);
    const failures = [];
    for (const receiveCount of receives) failures.push((await pipeline.deliver([{ object, receiveCount, messageId: `m-${sequence}` }])).batchItemFailures);
    return { object, failures };
  }
  const tagsOf = async (key: string) => {
    const { TagSet = [] } = await pipeline.s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key }));
    return Object.fromEntries(TagSet.map((tag) => [tag.Key, tag.Value]));
  };
  /** GET /v1/liveness-results/{key} as a caller would read the result. */
  async function resultRoute(key: string) {
    const encoded = encodeURIComponent(key);
    const event = { ...restEvent('GET', `/v1/liveness-results/${encoded}`, { body: null, headers: {} }), pathParameters: { key: encoded } };
    const { status, body } = await callApi(results, event, 10_000);
    return { status, body: body as Record<string, unknown> };
  }
  const details = () => pipeline.events.entries().map((entry) => JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>);

  it.each(ANSWERS)('%s is recorded COMPLETED as sent, tagged, announced and counted', async (file) => {
    pipeline.deepvue.inject(CHECK, reply(file));
    const { object, failures } = await upload();

    const sent = JSON.parse(fileText(file)) as { sub_code: string };
    const isLive = file === 'liveness-success.json' ? true : null;
    expect(failures).toEqual([[]]);
    expect(pipeline.upstreamChecks()).toBe(1);
    expect(await resultRoute(object.key)).toEqual({
      status: 200,
      body: {
        bucket: BUCKET,
        key: object.key,
        image: expect.objectContaining({ bucket: BUCKET, key: object.key, sha256: createHash('sha256').update(PHOTO).digest('hex') }),
        status: 'COMPLETED',
        checked_at: expect.any(String),
        result: sent,
        signature: expect.any(String),
      },
    });
    expect(await tagsOf(object.key)).toEqual({ 'liveness-sub-code': sent.sub_code, ...(isLive === null ? {} : { 'liveness-is-live': 'true' }) });
    expect(details()).toEqual([expect.objectContaining({ status: 'COMPLETED', sub_code: sent.sub_code, is_live: isLive })]);
    expect(pipeline.output.checkRecords()).toEqual([{ namespace: 'LivenessRelayTest', subCode: sent.sub_code, source: 's3' }]);
  });

  it('liveness-internal-server-error.json goes back to the queue, and is recorded FAILED as sent on the last receive', async () => {
    pipeline.deepvue.inject(CHECK, reply('liveness-internal-server-error.json'), MAX_RECEIVE_COUNT);
    const receives = Array.from({ length: MAX_RECEIVE_COUNT }, (_, index) => index + 1);
    const { object, failures } = await upload(receives);

    expect(failures).toEqual(receives.map(() => [{ itemIdentifier: `m-${sequence}` }]));
    expect(pipeline.upstreamChecks()).toBe(MAX_RECEIVE_COUNT);
    expect(await resultRoute(object.key)).toMatchObject({
      status: 200,
      body: { status: 'FAILED', result: JSON.parse(fileText('liveness-internal-server-error.json')) },
    });
    expect(pipeline.output.checkRecords()).toEqual([{ namespace: 'LivenessRelayTest', subCode: 'INTERNAL_SERVER_ERROR', source: 's3' }]);
  });

  it.each(UNAUTHORIZED)('%s once → renewed, repeated, and recorded COMPLETED', async (file) => {
    pipeline.deepvue.inject(CHECK, reply(file));
    const { object, failures } = await upload();

    expect(failures).toEqual([[]]);
    expect(pipeline.deepvue.calls(AUTHORIZE)).toHaveLength(1);
    expect(pipeline.upstreamChecks()).toBe(2);
    expect(await resultRoute(object.key)).toMatchObject({ body: { status: 'COMPLETED', result: sandboxBody('liveness-success') } });
  });

  it(`${INACTIVE_CLIENT} on every receive → back to the queue, FAILED UPSTREAM_AUTH_FAILED on the last`, async () => {
    pipeline.deepvue.inject(CHECK, reply(INACTIVE_CLIENT), MAX_RECEIVE_COUNT);
    const { object, failures } = await upload([1, MAX_RECEIVE_COUNT]);

    expect(failures).toEqual([[{ itemIdentifier: `m-${sequence}` }], [{ itemIdentifier: `m-${sequence}` }]]);
    expect(await resultRoute(object.key)).toMatchObject({ body: { status: 'FAILED', result: { code: 502, sub_code: 'UPSTREAM_AUTH_FAILED' } } });
  });
});
