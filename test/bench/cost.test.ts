import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { runPath, untimed, untimedCostPer1000, type ExpectedApiCheck } from '../../bench/cost/cost.ts';
import { readService } from '../../bench/cost/service.ts';
import { scaled } from '../../bench/cost/units.ts';

/**
 * What one API check uses on AWS is part of what the relay promises (docs/deploying.md, "What it
 * costs"): bench/cost/expected.json holds it, and its price. A change of the code that makes a
 * check use more (or less), or of a price in bench/cost/prices.ts, fails here until expected.json
 * says so (`node bench/cost/cost.ts --expect` writes it from a run).
 */
const expected = JSON.parse(readFileSync(new URL('../../bench/cost/expected.json', import.meta.url), 'utf8')) as ExpectedApiCheck;

it('prices the expected units of one API check at what expected.json says', () => {
  expect(untimedCostPer1000(expected.units)).toBeCloseTo(expected.usdPer1000, 12);
});

it('counts, for one API check, the units expected.json holds', { timeout: 120_000 }, async () => {
  const result = await runPath({ path: 'api', checks: 3, service: readService('prod') });
  expect(result.answer).toBe('200 SUCCESS');
  const { logBytes, transferOutBytes, ...counted } = untimed(scaled(result.units, 1 / result.checks));
  const { logBytes: expectedLogBytes, transferOutBytes: expectedTransferOutBytes, ...units } = expected.units;
  expect(counted).toEqual(units);
  // Timings written in the lines (latencies, durations), and ids in a signature, take a digit more or less from run to run.
  expect(Math.abs(logBytes - expectedLogBytes)).toBeLessThanOrEqual(expectedLogBytes * 0.02);
  expect(Math.abs(transferOutBytes - expectedTransferOutBytes)).toBeLessThanOrEqual(expectedTransferOutBytes * 0.02);
  expect(untimedCostPer1000({ ...counted, logBytes, transferOutBytes })).toBeCloseTo(expected.usdPer1000, 5);
});
