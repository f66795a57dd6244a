import { beforeEach, describe, expect, it } from 'vitest';
import { useDynalite } from '../support/dynalite.ts';
import { CHECK } from '../support/deepvue-emulator.ts';
import { loadFunction } from '../support/lambda.ts';
import { expectRelayAnswer, expectUpstreamAnswer, fixtureImage, useRelay } from '../support/relay.ts';

/**
 * DEEPVUE_RATE_LIMITS on POST /v1/liveness-check: the relay keeps to the plan through the
 * limiter in TOKEN_TABLE (dynalite), waits for room while its deadline allows, and otherwise
 * answers 429 RATE_LIMITED with Retry-After from the full window, without calling Deepvue.
 */
const TOKEN_TABLE = 'liveness-tokens-rate-test';
const PHOTO = fixtureImage('face-480p.jpg').toString('base64');

const dynalite = useDynalite(TOKEN_TABLE);

const env = (limits: string, extra: Record<string, string> = {}) => ({
  TOKEN_TABLE,
  AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
  DEEPVUE_RATE_LIMITS: limits,
  DEEPVUE_RATE_MARGIN_MS: '50',
  ...extra,
});

const relay = useRelay({ beforeEach: (relay) => relay.deepvue.setPlan(undefined) });

/** A fresh container keeping to `limits`, and a fresh plan on Deepvue's side (a new client_id each time). */
let clients = 0;
async function container(limits: string, extra: Record<string, string> = {}): Promise<void> {
  clients += 1;
  relay.deepvue.setClient(`client-${clients}`, 'secret');
  await relay.restart({
    ...env(limits, extra),
    DEEPVUE_SECRET_ID: undefined,
    DEEPVUE_CLIENT_ID: `client-${clients}`,
    DEEPVUE_CLIENT_SECRET: 'secret',
  });
  relay.deepvue.clearCalls();
}

describe('DEEPVUE_RATE_LIMITS', () => {
  it('waits for the per-second window and then calls, so Deepvue enforcing 1/s sees no 429', async () => {
    await container('1/s');
    relay.deepvue.setPlan([{ limit: 1, windowMs: 1000 }]);

    const answers = [await relay.post(PHOTO), await relay.post(PHOTO), await relay.post(PHOTO)];

    for (const answer of answers) expectUpstreamAnswer(answer, 200, 'SUCCESS');
    const arrivals = relay.deepvue.calls(CHECK).map((call) => call.at);
    expect(arrivals).toHaveLength(3);
    expect((arrivals[1] as number) - (arrivals[0] as number)).toBeGreaterThanOrEqual(1000);
    expect((arrivals[2] as number) - (arrivals[1] as number)).toBeGreaterThanOrEqual(1000);
    expect(relay.deepvue.rateLimited()).toBe(0);
    // Waiting for the limiter is not upstream latency.
    const latencies = relay.output.metricRecords('UpstreamLatency').map((record) => Number(record.UpstreamLatency));
    expect(Math.max(...latencies)).toBeLessThan(500);
    expect(relay.output.metricRecords('DeepvueCalls')).toHaveLength(3);
  });

  it('answers 429 RATE_LIMITED with Retry-After from the full minute window, without calling Deepvue', async () => {
    await container('10/s,2/min');
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');

    const refused = await relay.post(PHOTO);

    expectRelayAnswer(refused, 429, 'RATE_LIMITED');
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(59);
    expect(retryAfter).toBeLessThanOrEqual(61);
    expect((refused.body as { message: string }).message).toContain('2/min');
    expect(relay.upstreamCalls(CHECK)).toBe(2);
    expect(relay.output.paidCallsAvoided()).toEqual(['limiter-wait']);
    expect(relay.output.checkRecords().map((record) => record.subCode)).toEqual(['SUCCESS', 'SUCCESS', 'RATE_LIMITED']);
    expect(relay.output.metricRecords('DeepvueCalls')).toHaveLength(2);
  });

  it('answers 429 at once when the window frees only after the time the check may wait', async () => {
    // A 2 s deadline: the check waits at most until half of it is left for the call.
    await container('1/5s', { UPSTREAM_DEADLINE_MS: '2000' });
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    const started = Date.now();

    const refused = await relay.post(PHOTO);

    expect(Date.now() - started).toBeLessThan(500);
    expectRelayAnswer(refused, 429, 'RATE_LIMITED');
    // The 5 s window, widened by the margin, rounded up.
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(5);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(6);
    expect(relay.upstreamCalls(CHECK)).toBe(1);
  });

  it('is shared by every container of the function: a new container finds the window used', async () => {
    await container('10/s,1/min');
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    const client = `client-${clients}`;
    // Another container of the same function, for the same Deepvue key.
    await relay.restart({ ...env('10/s,1/min'), DEEPVUE_SECRET_ID: undefined, DEEPVUE_CLIENT_ID: client, DEEPVUE_CLIENT_SECRET: 'secret' });
    relay.deepvue.clearCalls();

    expectRelayAnswer(await relay.post(PHOTO), 429, 'RATE_LIMITED');
    expect(relay.upstreamCalls(CHECK)).toBe(0);
  });

  it('stops the function at start when malformed, naming the variable', async () => {
    await expect(loadFunction('liveness-check', { DEEPVUE_RATE_LIMITS: '1/fortnight' })).rejects.toThrow(
      /DEEPVUE_RATE_LIMITS must be a plan \(starter, business, growth, enterprise\) or a list like "1\/s,30\/min,1000\/day"/,
    );
    await expect(loadFunction('s3-upload', { DEEPVUE_RATE_LIMITS: 'premium', RESULTS_TABLE: 'r', UPLOAD_BUCKET: 'b' })).rejects.toThrow(/DEEPVUE_RATE_LIMITS/);
  });
});
