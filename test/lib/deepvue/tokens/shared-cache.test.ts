import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UpstreamFailure } from '../../../../lib/deepvue/client.ts';
import { logger } from '../../../../lib/platform/logger.ts';
import { tokenTimes, type AccessToken, type Authorize } from '../../../../lib/deepvue/tokens/cache.ts';
import { createTokenTableClient, DynamoTokenStore } from '../../../../lib/deepvue/tokens/dynamo-store.ts';
import { SharedTokenCache } from '../../../../lib/deepvue/tokens/shared-cache.ts';
import { refusedUrl } from '../../../support/blackhole.ts';
import { createTable, localDynamoConfig, useDynalite } from '../../../support/dynalite.ts';

const SUBJECT = 'https://deepvue.test\nclient-a';
const HOUR = 60 * 60 * 1000;
const LEASE_MS = 300;

/** Deepvue's authorize as the cache sees it: counts calls and issues distinct 24-hour tokens. */
function fakeAuthorize(delayMs = 30): { authorize: Authorize; calls: () => number; calledAt: number[] } {
  const calledAt: number[] = [];
  const authorize: Authorize = async () => {
    calledAt.push(Date.now());
    const serial = calledAt.length;
    await sleep(delayMs);
    const issuedAt = Date.now();
    return { value: `issued-token-${serial}`, ...tokenTimes(new Date(issuedAt + 24 * HOUR).toISOString(), issuedAt) };
  };
  return { authorize, calls: () => calledAt.length, calledAt };
}

const dynalite = useDynalite();
let table: string;
let clients: DynamoDBClient[];
let fallbacks: number;
const metrics = { tokenCacheFellBack: () => void (fallbacks += 1) };

beforeEach(async () => {
  table = `tokens-${randomUUID()}`;
  await createTable(dynalite.endpoint, table);
  clients = [];
  fallbacks = 0;
});
afterEach(() => {
  for (const client of clients) client.destroy();
});

/** One simulated container: its own memory tier and its own DynamoDB client. */
function container(authorize: Authorize, options: { endpoint?: string; tableName?: string; leaseMs?: number } = {}) {
  const client = createTokenTableClient(localDynamoConfig(options.endpoint ?? dynalite.endpoint));
  clients.push(client);
  return new SharedTokenCache({
    authorize,
    store: new DynamoTokenStore({ client, tableName: options.tableName ?? table }),
    subject: async () => SUBJECT,
    metrics,
    leaseMs: options.leaseMs ?? LEASE_MS,
    pollMs: 10,
  });
}

function containers(count: number, authorize: Authorize, options: { leaseMs?: number } = {}) {
  return Array.from({ length: count }, () => container(authorize, options));
}

/** `perContainer` concurrent gets on each container, all at once. */
function getEverywhere(caches: SharedTokenCache[], perContainer: number, deadlineMs = 5000): Promise<AccessToken[]> {
  const deadlineAt = Date.now() + deadlineMs;
  return Promise.all(caches.flatMap((cache) => Array.from({ length: perContainer }, () => cache.get(deadlineAt))));
}

/** Writes a token into the table the way a renewing container does. */
async function seed(token: AccessToken): Promise<void> {
  const client = createTokenTableClient(localDynamoConfig(dynalite.endpoint));
  clients.push(client);
  const store = new DynamoTokenStore({ client, tableName: table });
  expect(await store.takeLease(SUBJECT, 'seeder', 0, Date.now() + 1000)).toBe(true);
  expect(await store.saveToken(SUBJECT, 'seeder', token)).toBe(1);
}

async function storedToken(): Promise<string | undefined> {
  const client = createTokenTableClient(localDynamoConfig(dynalite.endpoint));
  clients.push(client);
  return (await new DynamoTokenStore({ client, tableName: table }).read(SUBJECT)).token?.value;
}

describe('SharedTokenCache over DynamoDB', () => {
  it('authorizes exactly once for 50 concurrent gets over 10 containers on an empty table', async () => {
    const upstream = fakeAuthorize();
    const tokens = await getEverywhere(containers(10, upstream.authorize), 5);

    expect(upstream.calls()).toBe(1);
    expect(new Set(tokens.map((token) => token.value))).toEqual(new Set(['issued-token-1']));
    expect(await storedToken()).toBe('issued-token-1');
    expect(fallbacks).toBe(0);
  });

  it('gives a fresh container the stored token without authorizing', async () => {
    const now = Date.now();
    await seed({ value: 'stored-token', expiresAt: now + 20 * HOUR, renewAt: now + 19 * HOUR });
    const upstream = fakeAuthorize();

    const tokens = await getEverywhere([container(upstream.authorize)], 3);

    expect(tokens.map((token) => token.value)).toEqual(['stored-token', 'stored-token', 'stored-token']);
    expect(upstream.calls()).toBe(0);
  });

  it('renews a token inside the renewal margin exactly once, serving the old one meanwhile', async () => {
    const now = Date.now();
    await seed({ value: 'stored-token', expiresAt: now + 10 * 60 * 1000, renewAt: now - 1000 });
    const upstream = fakeAuthorize(100);

    const tokens = await getEverywhere(containers(10, upstream.authorize), 5);

    expect(upstream.calls()).toBe(1);
    const values = new Set(tokens.map((token) => token.value));
    expect(values.has('issued-token-1')).toBe(true);
    expect([...values].every((value) => value === 'stored-token' || value === 'issued-token-1')).toBe(true);
    expect(await storedToken()).toBe('issued-token-1');
    expect((await container(upstream.authorize).get(Date.now() + 5000)).value).toBe('issued-token-1');
    expect(upstream.calls()).toBe(1);
  });

  it('renews an expired token before anyone uses it', async () => {
    const now = Date.now();
    await seed({ value: 'expired-token', expiresAt: now - 1000, renewAt: now - 16 * 60 * 1000 });
    const upstream = fakeAuthorize();

    const tokens = await getEverywhere(containers(10, upstream.authorize), 5);

    expect(upstream.calls()).toBe(1);
    expect(new Set(tokens.map((token) => token.value))).toEqual(new Set(['issued-token-1']));
  });

  it('renews once when 20 containers see the same revoked token', async () => {
    const now = Date.now();
    await seed({ value: 'revoked-token', expiresAt: now + 20 * HOUR, renewAt: now + 19 * HOUR });
    const upstream = fakeAuthorize();
    // A lease long enough that no holder outlives it on a loaded machine: a second renewal here
    // would be a lease expiring mid-renewal, which the dead-holder test covers, not a missed 401.
    const caches = containers(20, upstream.authorize, { leaseMs: 3000 });
    const deadlineAt = Date.now() + 5000;
    // Each container holds the token in memory, as after its first check.
    for (const cache of caches) expect((await cache.get(deadlineAt)).value).toBe('revoked-token');

    // What checkImage does on a 401: drop the refused token, then get one again.
    const renewed = await Promise.all(
      caches.map(async (cache) => {
        await cache.invalidate('revoked-token');
        return cache.get(deadlineAt);
      }),
    );

    expect(upstream.calls()).toBe(1);
    expect(new Set(renewed.map((token) => token.value))).toEqual(new Set(['issued-token-1']));
    // A late 401 for the old token must not remove its successor.
    await container(upstream.authorize).invalidate('revoked-token');
    expect(await storedToken()).toBe('issued-token-1');
  });

  it('lets another container renew once the lease of a holder that died has expired', async () => {
    let holding = false;
    const dying = container(async () => {
      holding = true;
      return new Promise<AccessToken>(() => {}); // the container froze mid-renewal and never writes
    });
    const leaseStartedAfter = Date.now();
    void dying.get(leaseStartedAfter + 60_000);
    await vi.waitUntil(() => holding);

    const upstream = fakeAuthorize();
    const tokens = await getEverywhere(containers(9, upstream.authorize), 5);

    expect(tokens).toHaveLength(45);
    expect(new Set(tokens.map((token) => token.value))).toEqual(new Set(['issued-token-1']));
    expect(upstream.calls()).toBe(1);
    expect(upstream.calledAt[0]).toBeGreaterThanOrEqual(leaseStartedAfter + LEASE_MS);
  });

  it('lets a waiting container renew at once when the holder’s authorize fails', async () => {
    const failing = container(async () => {
      await sleep(50);
      throw new UpstreamFailure('UPSTREAM_UNAVAILABLE', 'Deepvue is unavailable (HTTP 503); retry later', 1);
    }, { leaseMs: 60_000 });
    const upstream = fakeAuthorize();
    const waiting = container(upstream.authorize, { leaseMs: 60_000 });

    const started = Date.now();
    const failed = failing.get(started + 5000);
    await sleep(20); // the failing container holds the lease by now
    const [failure, token] = await Promise.allSettled([failed, waiting.get(started + 5000)]);

    expect(failure.status).toBe('rejected');
    expect(token).toMatchObject({ status: 'fulfilled', value: { value: 'issued-token-1' } });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('stops waiting for another container’s renewal at the caller’s deadline', async () => {
    const holder = container(async () => new Promise<AccessToken>(() => {}), { leaseMs: 60_000 });
    void holder.get(Date.now() + 60_000);
    await sleep(50);
    const upstream = fakeAuthorize();

    const started = Date.now();
    const outcome = container(upstream.authorize, { leaseMs: 60_000 }).get(started + 200);

    await expect(outcome).rejects.toMatchObject({ name: 'UpstreamFailure', subCode: 'UPSTREAM_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(upstream.calls()).toBe(0);
  });
});

describe('SharedTokenCache when DynamoDB fails', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each([
    ['unreachable', async () => ({ endpoint: await refusedUrl() })],
    ['missing the table', async () => ({ tableName: 'no-such-table' })],
  ])('authorizes directly when the table is %s, and counts the fallback', async (_case, where) => {
    const warnings = vi.spyOn(logger, 'warn');
    const upstream = fakeAuthorize();
    const cache = container(upstream.authorize, await where());

    const tokens = await getEverywhere([cache], 5);
    expect(new Set(tokens.map((token) => token.value))).toEqual(new Set(['issued-token-1']));
    expect(upstream.calls()).toBe(1);
    expect(fallbacks).toBe(1);

    // A 401 still drops the token from memory, though the table cannot be told.
    await cache.invalidate('issued-token-1');
    expect((await cache.get(Date.now() + 5000)).value).toBe('issued-token-2');
    expect(fallbacks).toBe(3);

    const logged = JSON.stringify(warnings.mock.calls);
    expect(warnings).toHaveBeenCalledTimes(3);
    expect(logged).toContain('token table unavailable');
    expect(logged).not.toContain('issued-token');
  });
});
