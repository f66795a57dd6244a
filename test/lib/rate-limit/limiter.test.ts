import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkImage, type CheckDeps } from '../../../lib/check/check.ts';
import type { CheckOutcome } from '../../../lib/check/outcome.ts';
import { readConfig } from '../../../lib/container/config.ts';
import { RelayMetrics } from '../../../lib/platform/metrics.ts';
import { DynamoRateStore } from '../../../lib/rate-limit/dynamo-store.ts';
import type { RateStore } from '../../../lib/rate-limit/store.ts';
import { CapacityUnavailable, RateLimiter } from '../../../lib/rate-limit/limiter.ts';
import { parseRateLimits } from '../../../lib/rate-limit/limits.ts';
import type { Priority } from '../../../lib/rate-limit/window-log.ts';
import { createCheckDeps } from '../../../lib/container/check-deps.ts';
import { GeneratedSigningKeys } from '../../../lib/evidence/keys.ts';
import { createTokenTableClient } from '../../../lib/deepvue/tokens/dynamo-store.ts';
import { startDeepvueEmulator, type DeepvueEmulator } from '../../support/deepvue-emulator.ts';
import { localDynamoConfig, useDynalite } from '../../support/dynalite.ts';
import { dynamoRequest, dynamoThrottled, startFaultProxy } from '../../support/fault-proxy.ts';
import { useStarted } from '../../support/hooks.ts';
import { captureOutput, type CapturedOutput } from '../../support/output.ts';
import { busiest } from '../../support/windows.ts';

/**
 * The plan-aware limiter across containers: each simulated container has its own limiter and
 * its own DynamoDB client, and they share one table on dynalite, as Lambda containers share the
 * token table.
 */
const TABLE = 'relay-tokens-limiter';
const IMAGE = { text: 'https://images.example/face.jpg' };

const dynalite = useDynalite(TABLE);
const proxy = useStarted(() => startFaultProxy(dynalite.endpoint));
let output: CapturedOutput;
let subjectSequence = 0;

beforeAll(() => {
  output = captureOutput();
});
afterAll(() => output.restore());
beforeEach(() => {
  proxy.clear();
  output.clear();
});

const metrics = new RelayMetrics({ namespace: 'LivenessRelayTest' });

/** Every grant committed to the table, by the time it was stamped with (what other containers judge by). */
let stamps: number[] = [];
/** The stamps each container committed, in order. */
const committedBy = new Map<RateLimiter, number[]>();

/** The table as a container sees it, noting the stamp of each grant it commits (in `stamps` and `mine`). */
function noting(store: RateStore, mine: number[]): RateStore {
  const seen = new Map<number, number[]>();
  return {
    read: async (subject) => {
      const state = await store.read(subject);
      seen.set(state.version, state.grants);
      return state;
    },
    commit: async (subject, version, grants) => {
      const committed = await store.commit(subject, version, grants);
      if (committed) {
        // The new stamp: the one grant the written log holds and the log read does not.
        const before = [...(seen.get(version) ?? [])];
        for (const grant of grants) {
          const index = before.indexOf(grant);
          if (index >= 0) before.splice(index, 1);
          else {
            stamps.push(grant);
            mine.push(grant);
          }
        }
      }
      return committed;
    },
    announceApiWait: (subject, until) => store.announceApiWait(subject, until),
    clearApiWait: (subject, until) => store.clearApiWait(subject, until),
  };
}

/** `count` containers keeping to `spec` for one (fresh) Deepvue key, through the fault proxy. */
function containers(count: number, spec: string, options: { marginMs?: number; apiReservePercent?: number; fallbackMs?: number; expected?: number } = {}) {
  const subject = `https://deepvue.example\nclient-${(subjectSequence += 1)}`;
  stamps = [];
  return Array.from({ length: count }, () => {
    const mine: number[] = [];
    const limiter = new RateLimiter({
      windows: parseRateLimits(spec),
      store: noting(new DynamoRateStore({ client: createTokenTableClient(localDynamoConfig(proxy.url)), tableName: TABLE }), mine),
      subject: async () => subject,
      containers: options.expected ?? count,
      marginMs: options.marginMs ?? 20,
      apiReservePercent: options.apiReservePercent ?? 0,
      metrics,
      ...(options.fallbackMs === undefined ? {} : { fallbackMs: options.fallbackMs }),
    });
    committedBy.set(limiter, mine);
    return limiter;
  });
}

/**
 * Grant times of `perContainer` acquires in every container, all containers at once; within a
 * container one after the other, as a Lambda container serves one invocation at a time.
 */
async function burst(limiters: RateLimiter[], perContainer: number, priority: Priority = 'api'): Promise<number[]> {
  const granted: number[] = [];
  await Promise.all(limiters.map(async (limiter) => {
    const mine = committedBy.get(limiter) ?? [];
    for (let call = 0; call < perContainer; call += 1) {
      const before = mine.length;
      await limiter.acquire(priority, Date.now() + 60_000);
      granted.push(Date.now());
      // A grant written too late to use was replaced by the acquire's next one: it is no call.
      for (const unused of mine.slice(before, -1)) stamps.splice(stamps.indexOf(unused), 1);
    }
  }));
  return granted.sort((a, b) => a - b);
}

describe('containers sharing the table', () => {
  // The grants' stamps are what the containers agree on; a call starts a write's latency after its
  // stamp, which the margin covers (the emulator test below counts the calls as they arrive).
  it('keep together to every window of the plan: 4 containers, 40 calls, 5 per 400 ms', async () => {
    const granted = await burst(containers(4, '5/400ms', { marginMs: 50 }), 10);
    expect(granted).toHaveLength(40);
    expect(stamps.sort((a, b) => a - b)).toHaveLength(40);
    expect(busiest(stamps, 450)).toBe(5);
    // And use what the plan allows: 40 calls in about 8 windows, not far more.
    expect((granted.at(-1) as number) - (granted[0] as number)).toBeLessThan(12 * 450);
  });

  it('keep a second and a minute-like window at once', async () => {
    await burst(containers(3, '2/200ms,6/1s', { marginMs: 50 }), 4);
    stamps.sort((a, b) => a - b);
    expect(busiest(stamps, 250)).toBe(2);
    expect(busiest(stamps, 1050)).toBe(6);
  });

  it('tell an API check that cannot start before its deadline how long the full window needs, without a grant', async () => {
    const [first, second] = containers(2, '1/s,2/min');
    await first?.acquire('api', Date.now() + 1000);
    await sleep(1050);
    await second?.acquire('api', Date.now() + 1000);

    const refused = await first?.acquire('api', Date.now() + 2000).then(() => undefined, (error: unknown) => error);

    expect(refused).toBeInstanceOf(CapacityUnavailable);
    const { retryAfterSeconds, waitMs, message } = refused as CapacityUnavailable;
    expect(retryAfterSeconds).toBeGreaterThanOrEqual(58);
    expect(retryAfterSeconds).toBeLessThanOrEqual(61);
    expect(waitMs).toBeGreaterThan(57_000);
    expect(message).toContain('2/min');
  });

  it('serve API checks first: an API check waiting for the window goes before uploads waiting for it', async () => {
    const [apiContainer, uploadA, uploadB] = containers(3, '1/300ms');
    await uploadA?.acquire('upload', Date.now() + 1000);
    const order: string[] = [];
    const uploads = [uploadA, uploadB].map((limiter, index) => limiter?.acquire('upload', Date.now() + 5000).then(() => order.push(`upload-${index}`)));
    await sleep(20);
    const api = apiContainer?.acquire('api', Date.now() + 5000).then(() => order.push('api'));
    await Promise.all([api, ...uploads]);
    expect(order[0]).toBe('api');
  });

  it('let uploads use only what the API’s reserve leaves of a window', async () => {
    const [uploads, api] = containers(2, '5/s', { apiReservePercent: 20, marginMs: 100 });
    const tries = await Promise.allSettled(Array.from({ length: 5 }, () => uploads?.acquire('upload', Date.now() + 100)));
    expect(tries.filter((attempt) => attempt.status === 'fulfilled')).toHaveLength(4);
    expect(tries.filter((attempt) => attempt.status === 'rejected').map((attempt) => (attempt as PromiseRejectedResult).reason))
      .toEqual([expect.any(CapacityUnavailable)]);
    const started = Date.now();
    await api?.acquire('api', Date.now() + 100);
    expect(Date.now() - started).toBeLessThan(100);
  });

  it('let a check wait until half its time, or 5 s, is left for the call itself', () => {
    const [limiter] = containers(1, '1/s,30/min', { marginMs: 100 });
    const now = Date.now();
    expect((limiter?.startBy(now + 20_000) ?? 0) - now).toBeGreaterThanOrEqual(15_000 - 5);
    expect((limiter?.startBy(now + 20_000) ?? 0) - now).toBeLessThanOrEqual(15_000 + 5);
    expect((limiter?.startBy(now + 4000) ?? 0) - now).toBeLessThanOrEqual(2000 + 5);
  });
});

describe('when a write of the table is answered late', () => {
  // Every container judges the window by a grant's stamp: a call may start at most half the
  // margin (here 50 ms) after it, whatever the table's latency.
  const LATE_MS = 300;
  const startedAfterStamp = (resolvedAt: number) => resolvedAt - Math.max(...stamps);

  it('does not start a call on a grant whose write was answered later than that: it takes another, which replaces it', async () => {
    const [limiter] = containers(1, '1/s,2/min', { marginMs: 100 });
    proxy.inject({ kind: 'late', ms: LATE_MS }, 1, dynamoRequest('UpdateItem', ':grants'));

    await limiter?.acquire('api', Date.now() + 5000);
    const resolvedAt = Date.now();

    expect(proxy.faulted).toBe(1);
    expect(startedAfterStamp(resolvedAt)).toBeLessThanOrEqual(50 + 2);
    expect(stamps).toHaveLength(2);
    expect(output.text()).toContain('rate limiter grant written too late to start its call on; taking another');
    // The unused grant no longer counts: the minute still has room for one more call, not none.
    await sleep(1150);
    await limiter?.acquire('api', Date.now() + 1000);
    await expect(limiter?.acquire('api', Date.now() + 1000)).rejects.toThrow(/2\/min/);
  });

  it('starts the call of an API check that waited once its grant is written, not after removing its wait mark', async () => {
    const [first, waiting] = containers(2, '1/300ms', { marginMs: 100 });
    await first?.acquire('api', Date.now() + 5000);
    proxy.inject({ kind: 'late', ms: LATE_MS }, 1, dynamoRequest('UpdateItem', 'REMOVE api_waiting_until'));

    await waiting?.acquire('api', Date.now() + 5000);
    const resolvedAt = Date.now();

    expect(startedAfterStamp(resolvedAt)).toBeLessThanOrEqual(50 + 2);
    // The mark is still removed, in the background.
    await sleep(LATE_MS + 100);
    expect(proxy.faulted).toBe(1);
  });
});

describe('when the table fails', () => {
  it('keeps each container to its share of the plan, says so in a metric and a warning, and goes back to the table later', async () => {
    const [limiter] = containers(1, '8/s', { expected: 4, fallbackMs: 300 });
    proxy.inject(dynamoThrottled(), Infinity);

    const granted = await burst([limiter as RateLimiter], 4);

    // 8/s over 4 expected containers: 2 a second each.
    expect(busiest(granted, 1000)).toBe(2);
    expect(output.metricRecords('RateLimiterFallbacks')).toHaveLength(4);
    expect(output.text()).toContain('rate limiter table unavailable; keeping to this container’s share of the plan');

    proxy.clear();
    await sleep(350);
    output.clear();
    await limiter?.acquire('api', Date.now() + 5000);
    expect(output.metricRecords('RateLimiterFallbacks')).toHaveLength(0);
  });

  it('keeps a window whose limit is below the containers to one call per stretched window', async () => {
    const [limiter] = containers(1, '1/100ms', { expected: 4, fallbackMs: 60_000 });
    proxy.inject({ kind: 'reset' }, Infinity);
    const granted = await burst([limiter as RateLimiter], 3);
    expect(busiest(granted, 400)).toBe(1);
  });
});

describe('checks through several containers against a Deepvue enforcing the plan', () => {
  let upstream: DeepvueEmulator;
  let fleet: CheckDeps[];

  beforeAll(async () => {
    upstream = await startDeepvueEmulator({ clients: { 'client-a': 'secret-a' }, plan: [{ limit: 3, windowMs: 1000 }, { limit: 12, windowMs: 5000 }] });
    const config = readConfig({
      DEEPVUE_BASE_URL: upstream.baseUrl,
      DEEPVUE_CLIENT_ID: 'client-a',
      DEEPVUE_CLIENT_SECRET: 'secret-a',
      TOKEN_TABLE: TABLE,
      DEEPVUE_RATE_LIMITS: '3/s,12/5s',
      // Everything here (emulator, dynalite, four containers) shares one event loop on a shared
      // machine: a call may reach the emulator a few hundred ms after its grant.
      DEEPVUE_RATE_MARGIN_MS: '250',
      AWS_LAMBDA_FUNCTION_NAME: 'livenessCheck',
    });
    const priorities: Priority[] = ['api', 'api', 'upload', 'upload'];
    fleet = await Promise.all(priorities.map((priority) => createCheckDeps({
      config,
      metrics,
      priority,
      retry: { maxAttempts: 1 },
      tokenTableClient: createTokenTableClient(localDynamoConfig(dynalite.endpoint)),
      signingKeys: new GeneratedSigningKeys(),
    })));
  });
  afterAll(async () => {
    await Promise.all(fleet.map((deps) => deps.client.close()));
    await upstream.close();
  });

  it('never draws a 429: 6 checks in each of two API and two upload containers at once', async () => {
    // One check at a time per container, as Lambda runs them; the outcomes in the fleet's order.
    const perContainer = await Promise.all(fleet.map(async (deps) => {
      const ended: CheckOutcome[] = [];
      for (let check = 0; check < 6; check += 1) ended.push(await checkImage(IMAGE, deps, Date.now() + 20_000));
      return ended;
    }));
    const outcomes = perContainer[0]?.flatMap((_, check) => perContainer.map((ended) => ended[check] as CheckOutcome)) ?? [];

    // Uploads wait in their container for one short window at most, then are held back for the queue.
    const held = outcomes.filter((outcome) => outcome.heldBack !== undefined);
    expect(outcomes.filter((outcome) => outcome.heldBack === undefined).map((outcome) => outcome.envelope.sub_code))
      .toEqual(Array(24 - held.length).fill('SUCCESS'));
    expect(held.every((outcome) => outcome.status === 429 && outcome.upstream.attempts === 0)).toBe(true);
    expect(upstream.rateLimited()).toBe(0);
    expect(upstream.calls('/v1/liveness-check')).toHaveLength(24 - held.length);
    // Every API check got its call.
    expect(outcomes.filter((_, index) => index % 4 < 2).every((outcome) => outcome.envelope.sub_code === 'SUCCESS')).toBe(true);
  });
});
