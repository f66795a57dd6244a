import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRateLimits } from '../../../lib/rate-limit/limits.ts';
import type { Priority } from '../../../lib/rate-limit/window-log.ts';
import { startCheckContainer, type CheckContainer, type ContainerReport } from '../../support/check-container.ts';
import { CHECK, startDeepvueEmulator, type DeepvueEmulator } from '../../support/deepvue-emulator.ts';
import { useDynalite } from '../../support/dynalite.ts';
import { dynamoRequest, startFaultProxy, type FaultProxy } from '../../support/fault-proxy.ts';
import { useStarted } from '../../support/hooks.ts';
import { busiest } from '../../support/windows.ts';

/**
 * The plan kept across containers under stress, counted where it matters: when the calls arrive
 * at Deepvue. Four containers, each a worker thread with its own memory, event loop and clients
 * (two API, two upload), run three checks at once each against one token table on dynalite, for
 * several seconds, far beyond what the plan admits. Each reaches the table through a proxy of its
 * own that answers some of its grant writes late (they took effect; their answer comes 400 ms
 * later, as after a DynamoDB latency spike, a cold connection or a stalled event loop): the first,
 * and every ninth after it, more than the container's memory of recent write times covers.
 *
 * The margin is 200 ms here, twice the default: the emulator, dynalite and the four containers
 * share a busy 2-core machine, and the arrival times are taken by the emulator's event loop.
 */
const TABLE = 'relay-tokens-stress';
const MARGIN_MS = 200;
const LATE_WRITE_MS = 400;
const PRIORITIES: Priority[] = ['api', 'api', 'upload', 'upload'];

const dynalite = useDynalite(TABLE);
const proxies = PRIORITIES.map(() => useStarted(() => startFaultProxy(dynalite.endpoint)));
let upstream: DeepvueEmulator;
let fleet: CheckContainer[];
let clients = 0;

beforeAll(async () => {
  upstream = await startDeepvueEmulator({ clients: {} });
  fleet = await Promise.all(PRIORITIES.map(() => startCheckContainer()));
});
afterAll(async () => {
  await Promise.all(fleet.map((container) => container.close()));
  await upstream.close();
});

/** The first of the grant writes through `faults`, and every ninth after it, are answered late. */
function answerSomeGrantsLate(faults: FaultProxy): void {
  const isGrant = dynamoRequest('UpdateItem', ':grants');
  let grants = 0;
  faults.clear();
  faults.inject({ kind: 'late', ms: LATE_WRITE_MS }, Infinity, (request, body) => isGrant(request, body) && (grants += 1) % 9 === 1);
}

/** The fleet checking for `runMs` under `limits`, for a Deepvue key of its own; the arrival times of its calls at Deepvue. */
async function stress(limits: string, runMs: number): Promise<{ arrivals: number[]; reports: ContainerReport[] }> {
  clients += 1;
  const clientId = `client-${clients}`;
  upstream.setClient(clientId, 'secret');
  upstream.setPlan(parseRateLimits(limits));
  upstream.clearCalls();
  for (const proxy of proxies) answerSomeGrantsLate(proxy);
  const env = {
    DEEPVUE_BASE_URL: upstream.baseUrl,
    DEEPVUE_CLIENT_ID: clientId,
    DEEPVUE_CLIENT_SECRET: 'secret',
    TOKEN_TABLE: TABLE,
    DEEPVUE_RATE_LIMITS: limits,
    DEEPVUE_RATE_MARGIN_MS: String(MARGIN_MS),
    DEEPVUE_RATE_CONTAINERS: String(PRIORITIES.length),
    UPSTREAM_DEADLINE_MS: '4000',
    AWS_LAMBDA_FUNCTION_NAME: 'livenessCheck',
  };
  const reports = await Promise.all(fleet.map((container, index) => container.run({
    env: { ...env, AWS_ENDPOINT_URL_DYNAMODB: proxies[index]?.url ?? '' },
    priority: PRIORITIES[index] as Priority,
    concurrency: 3,
    runMs,
  })));
  const arrivals = upstream.calls(CHECK).map((call) => call.at).sort((a, b) => a - b);
  return { arrivals, reports };
}

const total = (reports: ContainerReport[], subCode: string) => reports.reduce((sum, report) => sum + (report.outcomes[subCode] ?? 0), 0);
const lateWrites = () => proxies.reduce((sum, proxy) => sum + proxy.faulted, 0);

describe('containers sharing the token table, under stress, with some of its writes answered late', () => {
  it('never lets a sliding second hold more than 2 calls at Deepvue with DEEPVUE_RATE_LIMITS=2/s', async () => {
    const { arrivals, reports } = await stress('2/s', 4000);

    expect(busiest(arrivals, 1000), `arrivals ${arrivals.map((at) => at - (arrivals[0] ?? 0)).join(', ')}`).toBeLessThanOrEqual(2);
    expect(upstream.rateLimited()).toBe(0);
    // More calls than one window admits, and more checks than the plan: the window was pressed.
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
    expect(total(reports, 'RATE_LIMITED')).toBeGreaterThan(0);
    expect(lateWrites()).toBeGreaterThan(0);
    for (const container of fleet) expect(container.output()).not.toContain('RateLimiterFallbacks');
  });

  it('keeps a minute-like window as well, at a compressed time scale: 2/s and 5 in any 3 s', async () => {
    const { arrivals, reports } = await stress('2/s,5/3s', 9000);

    const shown = `arrivals ${arrivals.map((at) => at - (arrivals[0] ?? 0)).join(', ')}`;
    expect(busiest(arrivals, 1000), shown).toBeLessThanOrEqual(2);
    expect(busiest(arrivals, 3000), shown).toBeLessThanOrEqual(5);
    expect(upstream.rateLimited()).toBe(0);
    expect(arrivals.length).toBeGreaterThanOrEqual(6);
    expect(total(reports, 'RATE_LIMITED')).toBeGreaterThan(0);
    expect(lateWrites()).toBeGreaterThan(0);
    for (const container of fleet) expect(container.output()).not.toContain('RateLimiterFallbacks');
  });
});
