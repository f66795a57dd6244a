import type { RateWindow } from './limits.ts';

/**
 * Who asks for a call: an API check, whose caller is waiting, or an uploaded image, which can
 * wait in its queue. API checks come first.
 */
export type Priority = 'api' | 'upload';

/** How the log is judged: the plan's windows, widened by a margin, with a share kept for API checks. */
export interface WindowPolicy {
  windows: readonly RateWindow[];
  /**
   * Added to every window. A grant is stamped when it is taken; the request reaches Deepvue a
   * little later, by a delay that varies from call to call (connection reuse, clock skew between
   * containers). Two grants a full window apart could otherwise arrive less than one apart.
   */
  marginMs: number;
  /** Fraction of each window's calls that uploads leave to API checks, in [0, 1): `floor(limit × reserve)` calls. */
  apiReserve: number;
  /** While an API check waits, how soon an upload looks again (the check clears its mark once served). */
  yieldMs: number;
}

/** What the shared state says about calls: when the recent ones were granted, and whether an API check is waiting. */
export interface LimiterState {
  /** Epoch milliseconds of the recent grants, ascending; only those that can still matter are kept. */
  grants: number[];
  /** Until when an API check waits for capacity, at the latest (epoch ms; 0 for none): uploads stand aside meanwhile. */
  apiWaitingUntil: number;
}

export type Decision =
  /** `stamp`: the new grant's time in `grants`, which no other grant there shares. */
  | { granted: true; grants: number[]; stamp: number }
  /** `until`: the earliest time a call could be granted; `window`: the one that is full then (or undefined while an API check waits). */
  | { granted: false; until: number; window: RateWindow | undefined };

/**
 * Decides one request against a sliding-window log: a call may start at `now` when, in every
 * window, fewer than `limit` (minus the API's reserve, for uploads) grants lie within the last
 * `windowMs + marginMs`. Keeping every window's count below its limit at the moment of each grant
 * keeps it below the limit in any window whatever, wherever Deepvue's own windows start. On a
 * refusal, `until` is when the oldest grant that blocks the fullest window leaves it.
 *
 * A grant is stamped `startsAt`: when its call is expected to start, a store write after `now`;
 * a millisecond later per grant already stamped then, so that every stamp names one grant (the
 * limiter replaces its own by its stamp). Pure and synchronous: the same rule serves the shared
 * table and a container's memory.
 */
export function decide(state: LimiterState, now: number, priority: Priority, policy: WindowPolicy, startsAt = now): Decision {
  const { grants } = state;
  let until = now;
  let blocking: RateWindow | undefined;
  if (priority === 'upload' && state.apiWaitingUntil > now) until = Math.min(state.apiWaitingUntil, now + policy.yieldMs);
  for (const window of policy.windows) {
    const span = window.windowMs + policy.marginMs;
    const reserve = priority === 'upload' ? Math.floor(window.limit * policy.apiReserve) : 0;
    const cap = window.limit - reserve;
    const active = grants.length - firstAfter(grants, now - span);
    if (active < cap) continue;
    // The cap-th most recent grant must leave the window; the newer ones then leave room for one.
    const free = (grants[grants.length - cap] ?? now) + span;
    if (free > until) {
      until = free;
      blocking = window;
    }
  }
  if (until > now) return { granted: false, until, window: blocking };
  let stamp = Math.max(now, startsAt);
  while (grants.includes(stamp)) stamp += 1;
  return { granted: true, grants: pruned([...grants, stamp].sort((a, b) => a - b), now, policy), stamp };
}

/** Keeps only the grants some window may still count: within the longest span, at most the largest limit. */
function pruned(grants: number[], now: number, policy: WindowPolicy): number[] {
  const longest = Math.max(0, ...policy.windows.map((window) => window.windowMs + policy.marginMs));
  const largest = Math.max(0, ...policy.windows.map((window) => window.limit));
  const recent = grants.slice(firstAfter(grants, now - longest));
  return recent.length > largest ? recent.slice(recent.length - largest) : recent;
}

/** Index of the first grant after `time` in ascending `grants` (binary search: a day's log holds up to a thousand). */
function firstAfter(grants: readonly number[], time: number): number {
  let low = 0;
  let high = grants.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((grants[middle] ?? 0) > time) high = middle;
    else low = middle + 1;
  }
  return low;
}
