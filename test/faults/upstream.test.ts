import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { refusedUrl, startBlackhole, type Blackhole } from '../support/blackhole.ts';
import { AUTHORIZE, CHECK, documented, faults, type Fault } from '../support/deepvue-emulator.ts';
import type { HttpAnswer } from '../support/lambda.ts';
import { expectRelayAnswer, expectUpstreamAnswer, fixtureImage, useRelay } from '../support/relay.ts';

/**
 * The fault matrix of Deepvue as seen from POST /v1/liveness-check: every way the upstream can
 * fail at connect, headers and body, in bursts and storms. Each case states what the caller gets,
 * how many upstream calls it cost, how long it took, and that the next check succeeds.
 */
const PHOTO = fixtureImage('face-480p.jpg').toString('base64');
/** A URL image: concurrent cases stay light. */
const URL_IMAGE = 'https://images.example.com/selfies/7.jpg';
/** API Gateway's 29 s; the relay keeps one second for itself and caps upstream work at 20 s. */
const FULL_TIME = 29_000;
/** 2.5 s left: a 1.5 s upstream budget, to see timeouts without waiting 20 s. */
const SHORT_TIME = 2500;

const relay = useRelay({
  // A fresh, warm container per case: secret loaded, token held, nothing left from the last case.
  beforeEach: async (relay) => {
    await relay.restart();
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
  },
});

async function timedPost(remainingMs = FULL_TIME, image = PHOTO): Promise<{ answer: HttpAnswer; elapsedMs: number }> {
  const started = Date.now();
  const answer = await relay.post(image, remainingMs);
  return { answer, elapsedMs: Date.now() - started };
}

/** The relay's own answer, and the metric record that counts it. */
function expectRelayed(answer: HttpAnswer, status: number, subCode: string): void {
  expectRelayAnswer(answer, status, subCode);
  expect(relay.output.checkRecords().map((record) => record.subCode)).toContain(subCode);
}

/** The container is still serving: the fault left nothing behind. */
async function expectRecovery(): Promise<void> {
  expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
}

describe('connect', () => {
  let blackhole: Blackhole;
  beforeAll(async () => {
    blackhole = await startBlackhole();
  });
  afterAll(() => blackhole.close());

  it('never completes, 2.5 s of function time left → 504 UPSTREAM_TIMEOUT before the function’s time is up', async () => {
    await relay.restart({ DEEPVUE_BASE_URL: blackhole.url });
    const { answer, elapsedMs } = await timedPost(SHORT_TIME);
    expectRelayed(answer, 504, 'UPSTREAM_TIMEOUT');
    expect(elapsedMs).toBeGreaterThanOrEqual(1400);
    expect(elapsedMs).toBeLessThan(2000);
  });

  it('never completes, full time → 503 UPSTREAM_UNAVAILABLE with Retry-After after three 3 s connect timeouts', async () => {
    await relay.restart({ DEEPVUE_BASE_URL: blackhole.url });
    const { answer, elapsedMs } = await timedPost();
    expectRelayed(answer, 503, 'UPSTREAM_UNAVAILABLE');
    expect((answer.body as { message: string }).message).toContain('UND_ERR_CONNECT_TIMEOUT');
    expect(elapsedMs).toBeGreaterThanOrEqual(9000);
    expect(elapsedMs).toBeLessThan(12_000);
  });

  it('refused (nothing listens) → 503 UPSTREAM_UNAVAILABLE with Retry-After, at once', async () => {
    await relay.restart({ DEEPVUE_BASE_URL: await refusedUrl() });
    const { answer, elapsedMs } = await timedPost();
    expectRelayed(answer, 503, 'UPSTREAM_UNAVAILABLE');
    expect(elapsedMs).toBeLessThan(2000);
  });
});

describe('headers and body', () => {
  it.each<[string, Fault]>([
    ['no status line ever (a hang)', faults.hang()],
    ['headers, then a stalled body', faults.stall()],
    ['a body dripping one byte every 100 ms', faults.drip(100)],
  ])('%s → 504 UPSTREAM_TIMEOUT at the deadline, one call', async (_, fault) => {
    relay.deepvue.inject(CHECK, fault);
    const { answer, elapsedMs } = await timedPost(SHORT_TIME);
    expectRelayed(answer, 504, 'UPSTREAM_TIMEOUT');
    expect(relay.upstreamCalls(CHECK)).toBe(1);
    expect(elapsedMs).toBeLessThan(2000);
    await expectRecovery();
  });

  it('a body dripping on authorize, in a new container → 504 UPSTREAM_TIMEOUT, no check sent', async () => {
    await relay.restart();
    relay.deepvue.inject(AUTHORIZE, faults.drip(100));
    const { answer, elapsedMs } = await timedPost(SHORT_TIME);
    expectRelayed(answer, 504, 'UPSTREAM_TIMEOUT');
    expect(relay.upstreamCalls(CHECK)).toBe(0);
    expect(elapsedMs).toBeLessThan(2000);
    await expectRecovery();
  });

  it('a body stalled once → abandoned after 5 s of silence, retried, and the caller gets the answer', async () => {
    relay.deepvue.inject(CHECK, faults.stall());
    const { answer, elapsedMs } = await timedPost();
    expectUpstreamAnswer(answer, 200, 'SUCCESS');
    expect(relay.upstreamCalls(CHECK)).toBe(2);
    expect(elapsedMs).toBeGreaterThanOrEqual(4500);
    expect(elapsedMs).toBeLessThan(7000);
  });

  it('a reset in the middle of the body, once → retried, the caller gets the answer', async () => {
    relay.deepvue.inject(CHECK, faults.cut());
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.upstreamCalls(CHECK)).toBe(2);
  });

  it.each<[string, Fault]>([
    ['a reset in the middle of the body', faults.cut()],
    ['a reset before any answer', faults.reset()],
  ])('%s on every attempt → 503 UPSTREAM_UNAVAILABLE with Retry-After after 3 attempts', async (_, fault) => {
    relay.deepvue.inject(CHECK, fault, 3);
    expectRelayed(await relay.post(PHOTO), 503, 'UPSTREAM_UNAVAILABLE');
    expect(relay.upstreamCalls(CHECK)).toBe(3);
    await expectRecovery();
  });
});

describe('5xx bursts', () => {
  it('a 500 envelope twice, then an answer → the answer, after 3 attempts', async () => {
    relay.deepvue.inject(CHECK, faults.serverError(), 2);
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.upstreamCalls(CHECK)).toBe(3);
  });

  it.each<[string, Fault]>([
    ['503 Source Unavailable', faults.unavailable()],
    ['502 with an HTML page', { kind: 'reply', status: 502, body: '<html>Bad Gateway</html>', headers: { 'content-type': 'text/html' } }],
    ['504 with an empty body', { kind: 'reply', status: 504, body: '' }],
  ])('%s on every attempt → 503 UPSTREAM_UNAVAILABLE with Retry-After after 3 attempts', async (_, fault) => {
    relay.deepvue.inject(CHECK, fault, 3);
    expectRelayed(await relay.post(PHOTO), 503, 'UPSTREAM_UNAVAILABLE');
    expect(relay.upstreamCalls(CHECK)).toBe(3);
    await expectRecovery();
  });

  it('a 500 envelope on every attempt → that envelope, as Deepvue sent it, after 3 attempts', async () => {
    const fault = documented('liveness-internal-server-error');
    relay.deepvue.inject(CHECK, fault, 3);
    const answer = await relay.post(PHOTO);
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 500, body: fault.body });
    expect(relay.upstreamCalls(CHECK)).toBe(3);
    await expectRecovery();
  });

  it('a burst of 12 × 503 over 6 concurrent checks → each an answer or 503 with Retry-After, every fault absorbed or reported', async () => {
    relay.deepvue.inject(CHECK, faults.unavailable(), 12);
    const answers = await Promise.all(Array.from({ length: 6 }, () => relay.post(URL_IMAGE)));
    const answered = answers.filter((answer) => answer.status === 200);
    const unavailable = answers.filter((answer) => answer.status !== 200);
    for (const answer of answered) expectUpstreamAnswer(answer, 200, 'SUCCESS');
    for (const answer of unavailable) expectRelayAnswer(answer, 503, 'UPSTREAM_UNAVAILABLE');
    // Each 503 answer used three faulted attempts; every other call beyond the 12 faults is an answer.
    expect(relay.upstreamCalls(CHECK)).toBe(12 + answered.length);
    expect(unavailable.length * 3).toBeLessThanOrEqual(12);
    await expectRecovery();
  });
});

describe('429 storms', () => {
  it('9 × 429 Retry-After: 1 over 3 concurrent checks → each 429 RATE_LIMITED with Retry-After: 1, after waiting as asked', async () => {
    relay.deepvue.inject(CHECK, faults.rateLimited(1), 9);
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 3 }, () => relay.post(URL_IMAGE)));
    for (const answer of answers) {
      expectRelayAnswer(answer, 429, 'RATE_LIMITED');
      expect(answer.headers['retry-after']).toBe('1');
    }
    expect(relay.upstreamCalls(CHECK)).toBe(9);
    // Two waits of at least a second each between the three attempts of every check.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    await expectRecovery();
  });

  it('429 with Retry-After as an HTTP date, twice, then an answer → the answer, each retry after the date', async () => {
    const inTwoSeconds = () => new Date(Date.now() + 2000).toUTCString();
    relay.deepvue.inject(CHECK, { kind: 'reply', status: 429, body: { detail: 'Rate limit exceeded' }, headers: { 'retry-after': inTwoSeconds() } }, 2);
    const { answer, elapsedMs } = await timedPost();
    expectUpstreamAnswer(answer, 200, 'SUCCESS');
    expect(relay.upstreamCalls(CHECK)).toBe(3);
    expect(elapsedMs).toBeGreaterThanOrEqual(1000);
  });

  it('429 without Retry-After on every attempt → 429 RATE_LIMITED with the relay’s own Retry-After', async () => {
    relay.deepvue.inject(CHECK, { kind: 'reply', status: 429, body: { detail: 'Rate limit exceeded' } }, 3);
    const answer = await relay.post(PHOTO);
    expectRelayed(answer, 429, 'RATE_LIMITED');
    expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(relay.upstreamCalls(CHECK)).toBe(3);
    await expectRecovery();
  });
});

describe('answers that are not JSON', () => {
  it('200 with truncated JSON → 502 UPSTREAM_ERROR, not retried (a retry would be a second billed check)', async () => {
    relay.deepvue.inject(CHECK, { kind: 'reply', status: 200, body: '{"code": 200, "sub_code": "SUCC' });
    expectRelayed(await relay.post(PHOTO), 502, 'UPSTREAM_ERROR');
    expect(relay.upstreamCalls(CHECK)).toBe(1);
    await expectRecovery();
  });

  it('500 with a body that is not JSON, on every attempt → 503 UPSTREAM_UNAVAILABLE after 3 attempts', async () => {
    relay.deepvue.inject(CHECK, { kind: 'reply', status: 500, body: 'Internal Server Error' }, 3);
    expectRelayed(await relay.post(PHOTO), 503, 'UPSTREAM_UNAVAILABLE');
    expect(relay.upstreamCalls(CHECK)).toBe(3);
    await expectRecovery();
  });

  it('authorize answering 200 with invalid JSON, in a new container → 502 UPSTREAM_ERROR, no check sent', async () => {
    await relay.restart();
    relay.deepvue.inject(AUTHORIZE, { kind: 'reply', status: 200, body: '{"access_token": ' });
    expectRelayed(await relay.post(PHOTO), 502, 'UPSTREAM_ERROR');
    expect(relay.upstreamCalls(CHECK)).toBe(0);
    await expectRecovery();
  });
});

describe('401 storms', () => {
  it('401 on the check and again after renewal → 502 UPSTREAM_AUTH_FAILED after one renewal and two checks', async () => {
    relay.deepvue.inject(CHECK, faults.invalidToken(), 2);
    expectRelayed(await relay.post(PHOTO), 502, 'UPSTREAM_AUTH_FAILED');
    expect(relay.upstreamCalls(CHECK)).toBe(2);
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
    await expectRecovery();
  });

  it('10 × 401 over 5 concurrent checks → each 502 UPSTREAM_AUTH_FAILED; one renewal shared by all, two calls each', async () => {
    relay.deepvue.inject(CHECK, faults.invalidToken(), 10);
    const answers = await Promise.all(Array.from({ length: 5 }, () => relay.post(URL_IMAGE)));
    for (const answer of answers) expectRelayAnswer(answer, 502, 'UPSTREAM_AUTH_FAILED');
    expect(relay.upstreamCalls(CHECK)).toBe(10);
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
    // The renewed token was never refused by Deepvue itself: it is kept, and the next check uses it.
    relay.deepvue.clearCalls();
    await expectRecovery();
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(0);
  });
});
