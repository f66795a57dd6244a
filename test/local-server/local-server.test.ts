import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureBurst, send } from '../../bench/burst.ts';
import { BURST_ANSWERS, BURST_CHECK, BURST_PROBES, measureLoad, startLoadTarget, type LoadTarget } from '../../bench/load.ts';
import { HOSTILE_CASES, type HostileCase } from '../functions/hostile-corpus.ts';
import type { DeepvueEmulator } from '../support/deepvue-emulator.ts';
import type { LocalServer } from '../support/local-server.ts';
import { fixtureImage } from '../support/relay.ts';

/**
 * The relay over real HTTP, served as `npm start` serves it (the handlers in its process),
 * relaying to the Deepvue emulator on loopback: the hostile corpus, a short load, a burst, and the
 * server still answering at the end.
 */
const CHECK = '/v1/liveness-check';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PHOTO = fixtureImage('face-480p.jpg').toString('base64');
/** JS heap of the one npm start process after a full GC (measured: about 50 MiB). */
const HEAP_AFTER_LOAD_MIB = 120;

let target: LoadTarget;
let deepvue: DeepvueEmulator;
let server: LocalServer;

beforeAll(async () => {
  target = await startLoadTarget();
  ({ deepvue, server } = target);
}, 120_000);
afterAll(() => target?.stop());

async function post(testCase: Pick<HostileCase, 'request'>) {
  return server.request(CHECK, { method: 'POST', headers: testCase.request.headers ?? {}, body: testCase.request.body ?? undefined });
}

async function expectGoodCheck(): Promise<void> {
  const answer = await post({ request: { body: JSON.stringify({ image: PHOTO }), headers: { 'content-type': 'application/json' } } });
  expect({ status: answer.status, sub_code: (JSON.parse(answer.text) as { sub_code?: unknown }).sub_code }).toEqual({ status: 200, sub_code: 'SUCCESS' });
}

describe('npm start over HTTP', () => {
  it('answers a good check from Deepvue (the emulator), not the sandbox', async () => {
    const answer = await post({ request: { body: JSON.stringify({ image: PHOTO }), headers: { 'content-type': 'application/json' } } });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-liveness-provider']).toBe('deepvue');
  });

  const overHttp = HOSTILE_CASES.filter((testCase) => testCase.eventOnly === undefined);
  it.each(overHttp.map((testCase) => [testCase.name, testCase] as const))('hostile: %s', async (_, testCase) => {
    deepvue.clearCalls();
    const answer = await post(testCase);
    const body = JSON.parse(answer.text) as Record<string, unknown>;

    expect(answer.status).toBe(testCase.status);
    expect(answer.headers['content-type']).toMatch(/^application\/json\b/);
    expect(answer.headers['x-request-id']).toEqual(expect.any(String));
    expect(answer.headers['x-liveness-provider']).toBe('deepvue');
    expect(body).toMatchObject({ code: testCase.status, sub_code: testCase.subCode, transaction_id: expect.any(String), message: expect.any(String) });
    if (testCase.upstreamChecks === 0) {
      expect(body.transaction_id).toMatch(UUID);
      expect(deepvue.calls()).toHaveLength(0);
    } else {
      expect(deepvue.calls(CHECK)).toHaveLength(1);
      if (testCase.forwards !== undefined) expect(deepvue.calls(CHECK)[0]?.body.image).toBe(testCase.forwards);
    }
  });

  it('takes a 4 s load of 8 connections with injected faults: no errors but the injected ones', async () => {
    const result = await measureLoad({ url: server.url, durationSeconds: 4, connections: 8, server });
    expect(result.requests).toBeGreaterThan(50);
    expect(result.transportErrors).toBe(0);
    expect(result.unexpected).toEqual([]);
    expect(result.injectedFaults).toBeGreaterThan(0);
    // After a full GC the process holds the handlers, dynalite, s3rver, a token and keep-alive pools: no image, no backlog.
    expect(result.memory.end.heapMiB).toBeLessThan(HEAP_AFTER_LOAD_MIB);
  });

  it('answers a burst of 300 connections with 200 or 429 envelopes, probes within 2 s, one metric record per answer', async () => {
    const recordsBefore = server.checkRecords().length;
    const burst = await measureBurst({
      url: server.url,
      request: BURST_CHECK,
      connections: 300,
      answerWithinMs: 60_000,
      probes: BURST_PROBES,
      treeRssKiB: () => server.treeRssKiB(),
    });
    expect(burst.answered).toBe(300);
    expect(Object.keys(burst.outcomes).filter((outcome) => !BURST_ANSWERS.has(outcome))).toEqual([]);
    expect(burst.outcomes['200 SUCCESS']).toBeGreaterThan(0);
    for (const probe of burst.probes) {
      expect(probe.ms, probe.probe).toBeLessThan(2000);
      expect(probe.requestId, probe.probe).toMatch(UUID);
    }
    const after = await send(server.url, BURST_CHECK, 10_000);
    expect([after.status, after.subCode]).toEqual([200, 'SUCCESS']);
    const checkAnswers = 300 + 1 + burst.probes.filter((probe) => probe.probe.startsWith('POST')).length;
    await expect.poll(() => server.checkRecords().length - recordsBefore).toBe(checkAnswers);
  });

  it('is still up and answering after all of it', async () => {
    expect(server.running()).toBe(true);
    await expectGoodCheck();
  });
});
