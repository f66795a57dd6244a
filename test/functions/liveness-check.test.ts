import { describe, expect, it } from 'vitest';
import { DOCUMENTED_ANSWERS } from '../../lib/deepvue/documented.ts';
import { documented } from '../support/deepvue-emulator.ts';
import { metricRecords } from '../support/emf.ts';
import { loadFunction, postImage } from '../support/lambda.ts';
import {
  CLIENT,
  expectAnswerHeaders,
  expectRelayAnswer,
  expectUpstreamAnswer,
  fixtureImage,
  sandboxBody,
  useRelay,
} from '../support/relay.ts';

const PHOTO = fixtureImage('face-480p.jpg').toString('base64');
const imageUrl = (outcome: string) => `https://images.example.com/selfies/42.jpg?sandbox=${outcome}`;

const relay = useRelay();

describe('POST /v1/liveness-check: requests the relay refuses itself', () => {
  it.each([
    ['a body that is not JSON', '{"image": "abc"'],
    ['a JSON array', '[{"image": "abc"}]'],
    ['a JSON string', '"https://images.example.com/a.jpg"'],
    ['JSON null', 'null'],
    ['an object without image', '{"picture": "abc"}'],
    ['a number as image', '{"image": 42}'],
    ['null as image', '{"image": null}'],
    ['an object as image', '{"image": {"url": "https://images.example.com/a.jpg"}}'],
    ['an empty image', '{"image": ""}'],
    ['a blank image', '{"image": "  \\n "}'],
    ['a __proto__ key', '{"__proto__": {"image": "abc"}}'],
  ])('answers 422 INVALID_REQUEST to %s, without calling Deepvue', async (_, body) => {
    const answer = await relay.invoke({ body });
    expectRelayAnswer(answer, 422, 'INVALID_REQUEST');
    expect(relay.upstreamCalls()).toBe(0);
  });

  it('answers 422 INVALID_REQUEST to a request without a body', async () => {
    expectRelayAnswer(await relay.invoke({ body: null }), 422, 'INVALID_REQUEST');
    expect(relay.upstreamCalls()).toBe(0);
  });

  it('answers 422 INVALID_REQUEST to a body that is not declared as JSON', async () => {
    const answer = await relay.invoke({ body: JSON.stringify({ image: PHOTO }), headers: { 'content-type': 'text/plain' } });
    expectRelayAnswer(answer, 422, 'INVALID_REQUEST');
    expect(relay.upstreamCalls()).toBe(0);
  });

  it('reads a body API Gateway delivers base64-encoded', async () => {
    const body = Buffer.from(JSON.stringify({ image: PHOTO })).toString('base64');
    const answer = await relay.invoke({ body, isBase64Encoded: true, headers: { 'Content-Type': 'application/json; charset=utf-8' } });
    expectUpstreamAnswer(answer, 200, 'SUCCESS');
  });
});

describe('POST /v1/liveness-check: upstream envelopes are relayed as Deepvue sent them', () => {
  it('relays a live verdict for a base64 photograph, after one authorize and one check', async () => {
    await relay.restart();
    relay.deepvue.clearCalls();
    const answer = await relay.post(PHOTO);
    expectUpstreamAnswer(answer, 200, 'SUCCESS');
    expect(answer.body).toEqual(sandboxBody('liveness-success'));
    expect(relay.upstreamCalls('/v1/authorize')).toBe(1);
    const [check] = relay.deepvue.calls('/v1/liveness-check');
    expect(relay.upstreamCalls('/v1/liveness-check')).toBe(1);
    expect(check?.headers.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(check?.headers['x-api-key']).toBe(CLIENT.secret);
    expect(check?.headers['content-type']).toBe('application/json');
    expect(check?.body).toEqual({ image: PHOTO });
  });

  it('reuses the access token for later checks', async () => {
    await relay.post(PHOTO);
    await relay.post(PHOTO);
    expect(relay.upstreamCalls('/v1/authorize')).toBe(0);
    expect(relay.upstreamCalls('/v1/liveness-check')).toBe(2);
  });

  it.each([
    ['spoof', 200, 'SUCCESS', sandboxBody('liveness-success', { data: { is_live: false, score: null } })],
    ['no-face', 200, 'FACE_NOT_DETECTED', sandboxBody('liveness-face-not-detected')],
    ['invalid-url', 422, 'INVALID_URL', sandboxBody('liveness-invalid-url')],
  ])('relays the %s answer with its status', async (outcome, status, subCode, body) => {
    const answer = await relay.post(imageUrl(outcome));
    expectUpstreamAnswer(answer, status, subCode);
    expect(answer.body).toEqual(body);
    expect(relay.upstreamCalls('/v1/liveness-check')).toBe(1);
  });

  it('relays the envelope as sent, keeping Deepvue’s null timestamp and its transaction_id', async () => {
    const fault = documented('liveness-success');
    relay.deepvue.inject('/v1/liveness-check', fault);
    const answer = await relay.post(PHOTO);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual(fault.body);
    expect(answer.body).toMatchObject({ timestamp: null, data: { score: null } });
  });

  it('returns a 500 envelope as it is once the retries are spent', async () => {
    const fault = documented('liveness-internal-server-error');
    relay.deepvue.inject('/v1/liveness-check', fault, 3);
    const answer = await relay.post(PHOTO);
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual(fault.body);
    expect(relay.upstreamCalls('/v1/liveness-check')).toBe(3);
  });
});

describe('POST /v1/liveness-check: any JSON object with a string sub_code is relayed as sent', () => {
  const SUCCESS: Record<string, unknown> = DOCUMENTED_ANSWERS['liveness-success'].body;
  const { data: _data, ...successWithoutData } = SUCCESS;

  it.each<[string, number, Record<string, unknown>, 'live' | 'spoof' | undefined]>([
    ['a timestamp in epoch milliseconds', 200, { ...SUCCESS, timestamp: 1_764_165_600_123 }, 'live'],
    ['a timestamp as an ISO-8601 string', 200, { ...SUCCESS, timestamp: '2026-11-26T14:00:00.123456+05:30' }, 'live'],
    ['a SUCCESS without data', 200, successWithoutData, undefined],
    ['a SUCCESS whose data is null', 200, { ...SUCCESS, data: null }, undefined],
    ['a SUCCESS whose is_live is null', 200, { ...SUCCESS, data: { is_live: null, score: null } }, undefined],
    ['a SUCCESS whose is_live is missing', 200, { ...SUCCESS, data: { score: 0.4 } }, undefined],
    ['a SUCCESS whose is_live is a string', 200, { ...SUCCESS, data: { is_live: 'yes', score: 0.9 } }, undefined],
    ['a SUCCESS whose data is a list', 200, { ...SUCCESS, data: [true] }, undefined],
    ['a spoof without a score', 200, { ...SUCCESS, data: { is_live: false } }, 'spoof'],
    ['a score given as a number', 200, { ...SUCCESS, data: { is_live: true, score: 0.93 } }, 'live'],
    ['only a sub_code', 200, { sub_code: 'FACE_NOT_DETECTED' }, undefined],
    ['null in every other field', 422, { code: null, timestamp: null, transaction_id: null, sub_code: 'INVALID_URL', message: null, data: null }, undefined],
    ['fields Deepvue does not document', 200, { ...SUCCESS, request_id: 'r-1', data: { is_live: true, score: null, quality: { blur: 0.1 } } }, 'live'],
    ['a sub_code Deepvue does not document', 200, { ...SUCCESS, sub_code: 'MULTIPLE_FACES_DETECTED', message: 'Multiple Faces Detected', data: null }, undefined],
    ['a code that disagrees with the HTTP status', 422, { ...SUCCESS, code: 200, sub_code: 'INVALID_URL' }, undefined],
    ['a 400 envelope', 400, { code: 400, timestamp: null, transaction_id: 'string', sub_code: 'BAD_REQUEST', message: 'Bad Request' }, undefined],
    ['an empty sub_code', 200, { ...successWithoutData, sub_code: '' }, undefined],
  ])('%s', async (_, status, body, verdict) => {
    relay.deepvue.inject('/v1/liveness-check', { kind: 'reply', status, body });
    const answer = await relay.post(PHOTO);

    expect({ status: answer.status, body: answer.body }).toEqual({ status, body });
    expectAnswerHeaders(answer);
    expect(relay.upstreamCalls('/v1/liveness-check')).toBe(1);
    const subCode = body.sub_code === '' ? '(blank)' : body.sub_code;
    expect(relay.output.checkRecords()).toEqual([{ namespace: 'LivenessRelayTest', subCode, source: 'api' }]);
    const verdicts = metricRecords(relay.output.text()).filter((record) => 'LivenessVerdict' in record.metrics);
    expect(verdicts.map((record) => record.dimensions.Verdict)).toEqual(verdict === undefined ? [] : [verdict]);
  });
});

describe('POST /v1/liveness-check: records and logs', () => {
  it('writes exactly one LivenessCheck record per answer, with its sub_code', async () => {
    await relay.post(PHOTO);
    await relay.post('not base64 at all!');
    await relay.invoke({ body: '{' });
    expect(relay.output.checkRecords()).toEqual([
      { namespace: 'LivenessRelayTest', subCode: 'SUCCESS', source: 'api' },
      { namespace: 'LivenessRelayTest', subCode: 'INVALID_BASE64_STRING', source: 'api' },
      { namespace: 'LivenessRelayTest', subCode: 'INVALID_REQUEST', source: 'api' },
    ]);
  });

  it('never writes the client secret, the access token or the image to its output', async () => {
    await relay.restart();
    relay.deepvue.clearCalls();
    relay.output.clear();
    relay.deepvue.inject('/v1/liveness-check', { kind: 'reply', status: 401, body: { detail: 'Not a valid token' } });
    await relay.post(PHOTO);
    const tokens = relay.deepvue.calls('/v1/liveness-check').map((call) => call.headers.authorization?.slice('Bearer '.length));
    expect(tokens).toHaveLength(2);
    const output = relay.output.text();
    expect(output).toContain('liveness check finished');
    for (const secret of [CLIENT.secret, ...tokens, PHOTO.slice(0, 64)]) expect(output).not.toContain(secret);
  });
});

describe('POST /v1/liveness-check: configuration', () => {
  it('answers 500 INTERNAL_SERVER_ERROR when deployed without any Deepvue configuration', async () => {
    await relay.restart({ DEEPVUE_SECRET_ID: undefined });
    const answer = await relay.post(PHOTO);
    expectRelayAnswer(answer, 500, 'INTERNAL_SERVER_ERROR');
    expect(relay.upstreamCalls()).toBe(0);
  });

  it('uses the secret and ignores DEEPVUE_CLIENT_ID/SECRET when DEEPVUE_SECRET_ID is set', async () => {
    await relay.restart({ DEEPVUE_CLIENT_ID: 'someone-else', DEEPVUE_CLIENT_SECRET: 'not-this-one' });
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.deepvue.calls('/v1/authorize')[0]?.body).toEqual({ client_id: CLIENT.id, client_secret: CLIENT.secret });
  });

  it('relays with DEEPVUE_CLIENT_ID/SECRET in a local run, without Secrets Manager', async () => {
    const fetches = relay.secrets.getSecretValueCalls;
    await relay.restart({
      DEEPVUE_SECRET_ID: undefined,
      SIGNING_KEY_SECRET_ID: undefined,
      AWS_LAMBDA_FUNCTION_NAME: undefined,
      DEEPVUE_CLIENT_ID: CLIENT.id,
      DEEPVUE_CLIENT_SECRET: CLIENT.secret,
    });
    const answer = await relay.post(PHOTO);
    expectUpstreamAnswer(answer, 200, 'SUCCESS');
    expect(relay.secrets.getSecretValueCalls).toBe(fetches);
    expect(relay.upstreamCalls('/v1/liveness-check')).toBe(1);
  });

  it('answers from the built-in sandbox in a local run without credentials, and says so', async () => {
    const handler = await loadFunction('liveness-check', {
      DEEPVUE_SECRET_ID: undefined,
      DEEPVUE_CLIENT_ID: undefined,
      DEEPVUE_CLIENT_SECRET: undefined,
      AWS_LAMBDA_FUNCTION_NAME: undefined,
    });
    const live = await postImage(handler, PHOTO);
    expect(live.status).toBe(200);
    expect(live.headers['x-liveness-provider']).toBe('sandbox');
    expect(live.body).toEqual(sandboxBody('liveness-success'));
    expect((await postImage(handler, imageUrl('no-face'))).body).toEqual(sandboxBody('liveness-face-not-detected'));
    expectRelayAnswer(await postImage(handler, 'http://localhost/a.jpg'), 422, 'INVALID_URL', 'sandbox');
    expect(relay.upstreamCalls()).toBe(0);
  });
});
