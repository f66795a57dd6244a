import { describe, expect, it } from 'vitest';
import { expectRelayAnswer, expectUpstreamAnswer, fixtureImage, useRelay } from '../support/relay.ts';
import { base64Probe, HOSTILE_CASES } from './hostile-corpus.ts';

const relay = useRelay();

describe(`POST /v1/liveness-check, ${HOSTILE_CASES.length} hostile requests through the real handler`, () => {
  it('has at least 60 of them', () => {
    expect(HOSTILE_CASES.length).toBeGreaterThanOrEqual(60);
    expect(new Set(HOSTILE_CASES.map((testCase) => testCase.name)).size).toBe(HOSTILE_CASES.length);
  });

  it.each(HOSTILE_CASES.map((testCase) => [testCase.name, testCase] as const))('%s', async (_, testCase) => {
    const answer = await relay.invoke(testCase.request);

    if (testCase.upstreamChecks === 0) {
      expectRelayAnswer(answer, testCase.status, testCase.subCode);
      expect(relay.upstreamCalls()).toBe(0);
    } else {
      expectUpstreamAnswer(answer, testCase.status, testCase.subCode);
      expect(relay.upstreamCalls('/v1/liveness-check')).toBe(1);
      if (testCase.forwards !== undefined) expect(relay.deepvue.calls('/v1/liveness-check')[0]?.body.image).toBe(testCase.forwards);
    }
    expect(relay.output.checkRecords()).toEqual([{ namespace: 'LivenessRelayTest', subCode: testCase.subCode, source: 'api' }]);
    const probe = base64Probe(testCase);
    if (probe !== undefined) expect(relay.output.text()).not.toContain(probe);
  });

  it('leaves Object.prototype untouched and the container serving', async () => {
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(Object.prototype).not.toHaveProperty('image');
    expectUpstreamAnswer(await relay.post(fixtureImage('face-480p.jpg').toString('base64')), 200, 'SUCCESS');
  });
});
