import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../lib/container/config.ts';
import { parseRateLimits, shareOf } from '../../../lib/rate-limit/limits.ts';
import { decide, type Priority, type WindowPolicy } from '../../../lib/rate-limit/window-log.ts';
import { busiest } from '../../support/windows.ts';

describe('DEEPVUE_RATE_LIMITS', () => {
  it.each([
    ['starter', [[1, 1000], [30, 60_000], [1000, 86_400_000]]],
    ['Business', [[2, 1000]]],
    ['growth', [[5, 1000]]],
    [' enterprise ', [[17, 1000]]],
    ['1/s,30/min,1000/day', [[1, 1000], [30, 60_000], [1000, 86_400_000]]],
    ['1000/day, 30/minute ,1/second', [[1, 1000], [30, 60_000], [1000, 86_400_000]]],
    ['100/h', [[100, 3_600_000]]],
    ['1/100ms,30/6s', [[1, 100], [30, 6000]]],
  ])('reads %j', (raw, expected) => {
    expect(parseRateLimits(raw).map((window) => [window.limit, window.windowMs])).toEqual(expected);
  });

  it('is no limit when unset or blank', () => {
    expect(parseRateLimits(undefined)).toEqual([]);
    expect(parseRateLimits('  ')).toEqual([]);
  });

  it.each(['premium', '1/s,', '1 per second', '0/s', '-1/s', '1.5/s', '1/week', '1/0s', '1/s,2/s', '1/s;30/min', 'NaN/s'])(
    'stops the function at start on %j, naming the variable and what it accepts',
    (raw) => {
      expect(() => readConfig({ DEEPVUE_RATE_LIMITS: raw })).toThrow(/DEEPVUE_RATE_LIMITS/);
    },
  );

  it('says what it accepts', () => {
    expect(() => parseRateLimits('premium')).toThrow(
      'DEEPVUE_RATE_LIMITS must be a plan (starter, business, growth, enterprise) or a list like "1/s,30/min,1000/day"; "premium" in "premium" is not <calls>/<s|min|h|day>',
    );
  });

  it.each([
    ['DEEPVUE_RATE_CONTAINERS', '0'],
    ['DEEPVUE_RATE_MARGIN_MS', '-5'],
    ['DEEPVUE_RATE_API_RESERVE_PERCENT', '100'],
  ])('refuses %s=%s', (name, value) => {
    expect(() => readConfig({ [name]: value })).toThrow(name);
  });
});

describe('a container’s share of the plan when the table fails', () => {
  it('divides each limit by the expected containers, or stretches a window when the limit is smaller', () => {
    const share = shareOf(parseRateLimits('starter'), 4);
    expect(share.map((window) => [window.limit, window.windowMs])).toEqual([[1, 4000], [7, 60_000], [250, 86_400_000]]);
    expect(shareOf(parseRateLimits('enterprise'), 4).map((window) => [window.limit, window.windowMs])).toEqual([[4, 1000]]);
  });
});

describe('the sliding-window decision', () => {
  const policy = (spec: string, marginMs = 0, apiReserve = 0): WindowPolicy => ({ windows: parseRateLimits(spec), marginMs, apiReserve, yieldMs: 50 });

  /**
   * Callers arrive at random times over `spanMs` and each one, when refused, comes back at the
   * moment it was told; the granted times are what the upstream would see.
   */
  function simulate(rules: WindowPolicy, arrivals: number, spanMs: number, seed: number, priorities: Priority[] = ['api']): number[] {
    let state = seed;
    const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const queue = Array.from({ length: arrivals }, (_, index) => ({ at: Math.floor(random() * spanMs), priority: priorities[index % priorities.length] as Priority }));
    let grants: number[] = [];
    const granted: number[] = [];
    while (queue.length > 0) {
      queue.sort((a, b) => a.at - b.at);
      const next = queue.shift();
      if (next === undefined) break;
      const decision = decide({ grants, apiWaitingUntil: 0 }, next.at, next.priority, rules);
      if (decision.granted) {
        grants = decision.grants;
        granted.push(next.at);
      } else {
        expect(decision.until).toBeGreaterThan(next.at);
        queue.push({ ...next, at: decision.until });
      }
    }
    return granted.sort((a, b) => a - b);
  }


  it.each([1, 2, 3, 4, 5])('keeps Starter’s 1/s and 30/min within every sliding window (seed %i)', (seed) => {
    const granted = simulate(policy('1/s,30/min'), 120, 60_000, seed, ['api', 'upload']);
    expect(granted).toHaveLength(120);
    expect(busiest(granted, 1000)).toBe(1);
    expect(busiest(granted, 60_000)).toBe(30);
  });

  it('keeps Enterprise’s 17/s within every sliding window of a burst', () => {
    const granted = simulate(policy('17/s'), 500, 2000, 7);
    expect(busiest(granted, 1000)).toBe(17);
    // Not slower than it must be: the 500 calls take no more than their 30 windows.
    expect((granted.at(-1) as number) - (granted[0] as number)).toBeLessThan(30 * 1000);
  });

  it('widens every window by the margin', () => {
    const granted = simulate(policy('2/s', 150), 50, 1000, 3);
    expect(busiest(granted, 1150)).toBe(2);
  });

  it('leaves the API its reserve: uploads stop at 80 % of a window, API checks get the rest', () => {
    const rules = policy('10/s', 0, 0.2);
    let grants: number[] = [];
    const take = (priority: Priority) => {
      const decision = decide({ grants, apiWaitingUntil: 0 }, 500, priority, rules);
      if (decision.granted) grants = decision.grants;
      return decision.granted;
    };
    expect(Array.from({ length: 10 }, () => take('upload'))).toEqual([...Array(8).fill(true), false, false]);
    expect(Array.from({ length: 3 }, () => take('api'))).toEqual([true, true, false]);
  });

  it('makes uploads stand aside while an API check waits, looking again shortly, and names no window then', () => {
    expect(decide({ grants: [], apiWaitingUntil: 1200 }, 1000, 'upload', policy('5/s'))).toEqual({ granted: false, until: 1050, window: undefined });
    expect(decide({ grants: [], apiWaitingUntil: 1020 }, 1000, 'upload', policy('5/s'))).toEqual({ granted: false, until: 1020, window: undefined });
    expect(decide({ grants: [], apiWaitingUntil: 1200 }, 1000, 'api', policy('5/s')).granted).toBe(true);
    expect(decide({ grants: [], apiWaitingUntil: 999 }, 1000, 'upload', policy('5/s')).granted).toBe(true);
  });

  it('tells when the fullest window frees up, and which one it is', () => {
    const grants = Array.from({ length: 30 }, (_, index) => index * 1000);
    const decision = decide({ grants, apiWaitingUntil: 0 }, 30_500, 'api', policy('1/s,30/min', 100));
    expect(decision).toEqual({ granted: false, until: 60_100, window: expect.objectContaining({ label: '30/min' }) });
  });

  it('keeps no more of the log than some window can count', () => {
    let grants: number[] = [];
    for (let at = 0; at < 5000; at += 100) {
      const decision = decide({ grants, apiWaitingUntil: 0 }, at, 'api', policy('3/s,10/2s'));
      if (decision.granted) grants = decision.grants;
    }
    expect(grants.length).toBeLessThanOrEqual(10);
    expect(grants.every((grant) => grant > 5000 - 2000 - 100)).toBe(true);
  });
});
