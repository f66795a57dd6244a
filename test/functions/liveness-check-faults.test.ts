import { beforeEach, describe, expect, it } from 'vitest';
import { AUTHORIZE, CHECK, documented, faults, type Fault } from '../support/deepvue-emulator.ts';
import { expectRelayAnswer, expectUpstreamAnswer, fixtureImage, useRelay } from '../support/relay.ts';

const PHOTO = fixtureImage('live-selfie-exif-rotated.jpg').toString('base64');

// A warm container holding a token, so each test counts only the calls its own check makes.
const relay = useRelay({ beforeEach: (relay) => relay.post(PHOTO) });

/** Milliseconds between consecutive calls to `path`. */
const gaps = (path: typeof CHECK | typeof AUTHORIZE) =>
  relay.deepvue.calls(path).map((call) => call.at).flatMap((at, index, all) => (index === 0 ? [] : [at - (all[index - 1] ?? at)]));

/** Posts the photo and measures how long the relay took to answer. */
async function timedPost(remainingMs?: number) {
  const started = Date.now();
  const answer = await relay.post(PHOTO, remainingMs);
  return { answer, elapsedMs: Date.now() - started };
}

describe('retried faults that clear up are invisible to the caller', () => {
  it.each<[string, Fault, number]>([
    ['a 500 envelope', faults.serverError(), 2],
    ['503 Source Unavailable', faults.unavailable(), 2],
    ['a connection reset', faults.reset(), 2],
  ])('%s, twice, then an answer → the answer after %s retries', async (_, fault, times) => {
    relay.deepvue.inject(CHECK, fault, times);
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.upstreamCalls(CHECK)).toBe(times + 1);
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(0);
  });

  it('waits the Retry-After of a 429 before trying again', async () => {
    relay.deepvue.inject(CHECK, faults.rateLimited(1));
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.upstreamCalls(CHECK)).toBe(2);
    expect(gaps(CHECK)[0]).toBeGreaterThanOrEqual(1000);
    expect(gaps(CHECK)[0]).toBeLessThan(1500);
  });
});

describe('faults that outlast the retries', () => {
  it('429 on every attempt → 429 RATE_LIMITED with Retry-After, each retry after the wait Deepvue asked for', async () => {
    relay.deepvue.inject(CHECK, faults.rateLimited(1), 3);
    const answer = await relay.post(PHOTO);
    expectRelayAnswer(answer, 429, 'RATE_LIMITED');
    expect(answer.headers['retry-after']).toBe('1');
    expect(relay.upstreamCalls(CHECK)).toBe(3);
    for (const gap of gaps(CHECK)) expect(gap).toBeGreaterThanOrEqual(1000);
  });

  it('429 asking for a wait past the deadline → answered at once, passing the wait on', async () => {
    relay.deepvue.inject(CHECK, faults.rateLimited(60));
    const { answer, elapsedMs } = await timedPost();
    expectRelayAnswer(answer, 429, 'RATE_LIMITED');
    expect(answer.headers['retry-after']).toBe('60');
    expect(relay.upstreamCalls(CHECK)).toBe(1);
    expect(elapsedMs).toBeLessThan(1000);
  });

  it.each<[string, Fault]>([
    ['503 Source Unavailable', faults.unavailable()],
    ['a connection reset', faults.reset()],
    ['a 502 with an HTML body', { kind: 'reply', status: 502, body: '<html>Bad Gateway</html>', headers: { 'content-type': 'text/html' } }],
  ])('%s on every attempt → 503 UPSTREAM_UNAVAILABLE with Retry-After after 3 attempts', async (_, fault) => {
    relay.deepvue.inject(CHECK, fault, 3);
    expectRelayAnswer(await relay.post(PHOTO), 503, 'UPSTREAM_UNAVAILABLE');
    expect(relay.upstreamCalls(CHECK)).toBe(3);
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
  });

  it('a 500 envelope on every attempt → returned as Deepvue sent it, after 3 attempts', async () => {
    const fault = documented('liveness-internal-server-error');
    relay.deepvue.inject(CHECK, fault, 3);
    const answer = await relay.post(PHOTO);
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 500, body: fault.body });
    expect(relay.upstreamCalls(CHECK)).toBe(3);
  });
});

describe('answers that are neither an envelope nor a documented {"detail"} → 502 UPSTREAM_ERROR, not retried', () => {
  it.each<[string, Fault]>([
    ['an HTML page with status 200', faults.notJson()],
    ['JSON without a sub_code', { kind: 'reply', status: 200, body: { result: 'live' } }],
    ['a sub_code that is a number', { kind: 'reply', status: 200, body: { ...documented('liveness-success').body, sub_code: 200 } }],
    ['a sub_code that is null', { kind: 'reply', status: 200, body: { ...documented('liveness-success').body, sub_code: null } }],
    ['a {"detail"} body with status 200', { kind: 'reply', status: 200, body: { detail: 'Request processed successfully' } }],
    ['a JSON array', { kind: 'reply', status: 200, body: [] }],
    ['JSON null', { kind: 'reply', status: 200, body: 'null' }],
    ['a JSON string', { kind: 'reply', status: 200, body: '"SUCCESS"' }],
    ['an empty body', { kind: 'reply', status: 200, body: '' }],
    ['an answer far larger than any envelope', documented('liveness-face-not-detected', { message: 'x'.repeat(200 * 1024) })],
  ])('%s', async (_, fault) => {
    relay.deepvue.inject(CHECK, fault);
    expectRelayAnswer(await relay.post(PHOTO), 502, 'UPSTREAM_ERROR');
    expect(relay.upstreamCalls(CHECK)).toBe(1);
  });
});

describe('no answer before the deadline → 504 UPSTREAM_TIMEOUT, never past the function’s remaining time', () => {
  it.each<[string, Fault]>([
    ['a hang', faults.hang()],
    ['headers then a stalled body', faults.stall()],
    ['a body dripping a byte every 100 ms', faults.drip(100)],
  ])('%s, with 2.5 s of the function left', async (_, fault) => {
    relay.deepvue.inject(CHECK, fault);
    const { answer, elapsedMs } = await timedPost(2500);
    expectRelayAnswer(answer, 504, 'UPSTREAM_TIMEOUT');
    expect(relay.upstreamCalls(CHECK)).toBe(1);
    // The relay keeps a second of the remaining time for itself.
    expect(elapsedMs).toBeGreaterThanOrEqual(1400);
    expect(elapsedMs).toBeLessThan(2000);
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
  });

  it('a hang on authorize, in a new container', async () => {
    await relay.restart();
    relay.deepvue.inject(AUTHORIZE, faults.hang());
    const { answer, elapsedMs } = await timedPost(2500);
    expectRelayAnswer(answer, 504, 'UPSTREAM_TIMEOUT');
    expect(relay.upstreamCalls(CHECK)).toBe(0);
    expect(elapsedMs).toBeLessThan(2000);
  });

  it('a hang under UPSTREAM_DEADLINE_MS, with plenty of function time left', async () => {
    await relay.restart({ UPSTREAM_DEADLINE_MS: '1500' });
    await relay.post(PHOTO);
    relay.deepvue.clearCalls();
    relay.deepvue.inject(CHECK, faults.hang());
    const { answer, elapsedMs } = await timedPost(29_000);
    expectRelayAnswer(answer, 504, 'UPSTREAM_TIMEOUT');
    expect(elapsedMs).toBeGreaterThanOrEqual(1400);
    expect(elapsedMs).toBeLessThan(2500);
  });
});

describe('faults of authorize', () => {
  beforeEach(() => relay.restart());

  it('retries a 503 and then checks', async () => {
    relay.deepvue.inject(AUTHORIZE, faults.unavailable());
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(2);
  });

  it.each<[string, Fault, number, string]>([
    ['503 Source Unavailable', faults.unavailable(), 503, 'UPSTREAM_UNAVAILABLE'],
    ['a 500 envelope', faults.serverError(), 503, 'UPSTREAM_UNAVAILABLE'],
    ['429', faults.rateLimited(0), 429, 'RATE_LIMITED'],
  ])('%s on every attempt → %s %s without a check', async (_, fault, status, subCode) => {
    relay.deepvue.inject(AUTHORIZE, fault, 3);
    expectRelayAnswer(await relay.post(PHOTO), status, subCode);
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(3);
    expect(relay.upstreamCalls(CHECK)).toBe(0);
  });

  it('an authorize answer without an access token → 502 UPSTREAM_ERROR', async () => {
    relay.deepvue.inject(AUTHORIZE, { kind: 'reply', status: 200, body: { token_type: 'bearer' } });
    expectRelayAnswer(await relay.post(PHOTO), 502, 'UPSTREAM_ERROR');
    expect(relay.upstreamCalls(CHECK)).toBe(0);
  });
});
