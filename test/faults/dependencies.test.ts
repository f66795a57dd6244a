import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { refusedUrl } from '../support/blackhole.ts';
import { AUTHORIZE, CHECK } from '../support/deepvue-emulator.ts';
import { useDynalite } from '../support/dynalite.ts';
import { dynamoThrottled, startFaultProxy } from '../support/fault-proxy.ts';
import { useStarted } from '../support/hooks.ts';
import type { HttpAnswer } from '../support/lambda.ts';
import { expectRelayAnswer, expectUpstreamAnswer, fixtureImage, SECRET_ID, useRelay } from '../support/relay.ts';

/**
 * The fault matrix of the relay's AWS dependencies as seen from POST /v1/liveness-check: the
 * token table (DynamoDB) only saves authorize calls, so its faults must never fail a check;
 * Secrets Manager failing after the first load must not either, and at a cold start it is a 503.
 */
const PHOTO = fixtureImage('live-selfie-exif-rotated.jpg').toString('base64');
const TOKEN_TABLE = 'liveness-tokens-faults';

const dynalite = useDynalite(TOKEN_TABLE);
const dynamo = useStarted(() => startFaultProxy(dynalite.endpoint));
const relay = useRelay({
  beforeEach: (relay) => {
    dynamo.clear();
    relay.secrets.failNext(0);
  },
});

const withTokenTable = (endpoint = dynamo.url) => ({ TOKEN_TABLE, AWS_ENDPOINT_URL_DYNAMODB: endpoint });

async function timedPost(remainingMs?: number): Promise<{ answer: HttpAnswer; elapsedMs: number }> {
  const started = Date.now();
  const answer = await relay.post(PHOTO, remainingMs);
  return { answer, elapsedMs: Date.now() - started };
}

/** EMF records of `TokenCacheFallbacks`: the token table failed and the container went on alone. */
const fallbacks = () => relay.output.text().split('\n').filter((line) => line.includes('"TokenCacheFallbacks"')).length;

describe('token table (DynamoDB): checks succeed whatever it does', () => {
  it('unreachable at a cold start → the answer, one direct authorize, the fallback counted', async () => {
    await relay.restart(withTokenTable(await refusedUrl()));
    const { answer, elapsedMs } = await timedPost();
    expectUpstreamAnswer(answer, 200, 'SUCCESS');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
    expect(fallbacks()).toBeGreaterThanOrEqual(1);
    expect(elapsedMs).toBeLessThan(2000);
  });

  it('throttling every request → the answer, one direct authorize, the fallback counted', async () => {
    await relay.restart(withTokenTable());
    dynamo.inject(dynamoThrottled(), Infinity);
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
    expect(dynamo.faulted).toBeGreaterThanOrEqual(2);
    expect(fallbacks()).toBeGreaterThanOrEqual(1);
  });

  it('throttling once → absorbed by the SDK’s retry: the token is shared, a second container does not authorize', async () => {
    await relay.restart(withTokenTable());
    dynamo.inject(dynamoThrottled(), 1);
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(dynamo.faulted).toBe(1);
    expect(fallbacks()).toBe(0);

    await relay.restart(withTokenTable());
    relay.deepvue.clearCalls();
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(0);
  });

  it('never answering → the answer within the SDK’s short timeouts, one direct authorize', async () => {
    await relay.restart(withTokenTable());
    dynamo.inject({ kind: 'hang' }, Infinity);
    const { answer, elapsedMs } = await timedPost();
    expectUpstreamAnswer(answer, 200, 'SUCCESS');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
    expect(fallbacks()).toBeGreaterThanOrEqual(1);
    expect(elapsedMs).toBeLessThan(5000);
  });

  it('resetting connections → the answer, one direct authorize', async () => {
    await relay.restart(withTokenTable());
    dynamo.inject({ kind: 'reset' }, Infinity);
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
  });

  it('going down in a warm container, then a 401 → the token is renewed directly and the check answered', async () => {
    await relay.restart(withTokenTable());
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    dynamo.inject(dynamoThrottled(), Infinity);
    relay.deepvue.revokeTokens();
    relay.deepvue.clearCalls();
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
    expect(relay.upstreamCalls(CHECK)).toBe(2);
    expect(fallbacks()).toBeGreaterThanOrEqual(1);
  });
});

describe('Secrets Manager', () => {
  it('failing after the first load → checks go on with the loaded credentials', async () => {
    await relay.restart({ SECRET_MAX_AGE_SECONDS: '1' });
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    await sleep(1100);
    const before = relay.secrets.getSecretValueCalls;
    relay.secrets.failNext(1000);
    for (let check = 0; check < 3; check += 1) expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.secrets.getSecretValueCalls).toBeGreaterThan(before);
  });

  it('failing after the first load, with the token revoked → renewed with the loaded credentials', async () => {
    await relay.restart({ SECRET_MAX_AGE_SECONDS: '1' });
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    await sleep(1100);
    relay.secrets.failNext(1000);
    relay.deepvue.revokeTokens();
    relay.deepvue.clearCalls();
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
  });

  it('never answering after the first load → checks go on with the loaded credentials; only the first waits for the SDK', async () => {
    await relay.restart({ SECRET_MAX_AGE_SECONDS: '1' });
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    await sleep(1100);
    relay.secrets.failNext(1000, 'hang');
    const first = await timedPost();
    expectUpstreamAnswer(first.answer, 200, 'SUCCESS');
    expect(first.elapsedMs).toBeLessThan(10_000);
    // Secrets Manager is left alone for a while after a failed refresh instead of delaying every check.
    const asked = relay.secrets.getSecretValueCalls;
    for (let check = 0; check < 3; check += 1) {
      const { answer, elapsedMs } = await timedPost();
      expectUpstreamAnswer(answer, 200, 'SUCCESS');
      expect(elapsedMs).toBeLessThan(500);
    }
    expect(relay.secrets.getSecretValueCalls).toBe(asked);
  });

  it('failing at a cold start → 503 UPSTREAM_UNAVAILABLE with Retry-After, no upstream call; the same container recovers', async () => {
    // The Deepvue secret only: the signing key's failing refuses every check (500, below).
    relay.secrets.failNext(1000, 'error', SECRET_ID);
    await relay.restart();
    expectRelayAnswer(await relay.post(PHOTO), 503, 'UPSTREAM_UNAVAILABLE');
    expect(relay.upstreamCalls()).toBe(0);
    relay.secrets.failNext(0);
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
  });

  it('unreachable at a cold start → 500 INTERNAL_SERVER_ERROR, quickly: without its signing key the relay makes no check', async () => {
    await relay.restart({ AWS_ENDPOINT_URL_SECRETS_MANAGER: await refusedUrl() });
    const { answer, elapsedMs } = await timedPost();
    expectRelayAnswer(answer, 500, 'INTERNAL_SERVER_ERROR');
    expect(relay.upstreamCalls()).toBe(0);
    expect(elapsedMs).toBeLessThan(3000);
  });

  it('never answering at a cold start → 503 UPSTREAM_UNAVAILABLE with Retry-After once the SDK gives up', async () => {
    relay.secrets.failNext(1000, 'hang', SECRET_ID);
    await relay.restart();
    const { answer, elapsedMs } = await timedPost();
    expectRelayAnswer(answer, 503, 'UPSTREAM_UNAVAILABLE');
    expect(relay.upstreamCalls()).toBe(0);
    expect(elapsedMs).toBeLessThan(10_000);
  });
});
