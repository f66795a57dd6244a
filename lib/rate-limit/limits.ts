/**
 * A plan's rate: at most `limit` calls within any `windowMs` milliseconds. Deepvue states its
 * plans per second, minute and day; the relay keeps to each within every sliding window, because
 * it cannot know where Deepvue's windows start.
 */
export interface RateWindow {
  limit: number;
  windowMs: number;
  /** As the configuration wrote it, e.g. `30/min`: named in logs and answers. */
  label: string;
}

/** Deepvue's plans as its rate-limit page states them (per API key). */
export const PLANS: Readonly<Record<string, string>> = {
  starter: '1/s,30/min,1000/day',
  business: '2/s',
  growth: '5/s',
  enterprise: '17/s',
};

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  min: 60_000,
  minute: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
};

const WINDOW = /^(\d+)\/(\d*)([a-z]+)$/;

/**
 * Reads `DEEPVUE_RATE_LIMITS`: a plan name (`starter`, `business`, `growth`, `enterprise`) or a
 * comma-separated list of `<calls>/<unit>` with unit `s`, `min`, `h` or `day` (also `ms`, and a
 * count before the unit, e.g. `30/3s`, which time-scaled benchmarks use). Unset or blank: no
 * limit. Anything else throws, so a function with a mistyped plan stops at start instead of
 * spending the plan's quota unguarded.
 *
 * @example
 * parseRateLimits('1/s,30/min,1000/day'); // three windows
 * parseRateLimits('growth');              // [{ limit: 5, windowMs: 1000, label: '5/s' }]
 */
export function parseRateLimits(raw: string | undefined): RateWindow[] {
  const text = raw?.trim().toLowerCase() ?? '';
  if (text === '') return [];
  const spec = PLANS[text] ?? text;
  const windows = spec.split(',').map((part) => {
    const item = part.trim();
    const match = WINDOW.exec(item);
    const unitMs = match === null ? undefined : UNIT_MS[match[3] ?? ''];
    const limit = Number(match?.[1]);
    const count = match?.[2] === '' ? 1 : Number(match?.[2]);
    if (unitMs === undefined || !Number.isSafeInteger(limit) || limit < 1 || !Number.isSafeInteger(count) || count < 1) {
      throw new Error(
        `DEEPVUE_RATE_LIMITS must be a plan (${Object.keys(PLANS).join(', ')}) or a list like "1/s,30/min,1000/day"; "${item}" in "${raw}" is not <calls>/<s|min|h|day>`,
      );
    }
    return { limit, windowMs: count * unitMs, label: item };
  });
  const lengths = new Set(windows.map((window) => window.windowMs));
  if (lengths.size !== windows.length) throw new Error(`DEEPVUE_RATE_LIMITS names one window length twice: "${raw}"`);
  return windows.sort((a, b) => a.windowMs - b.windowMs);
}

/**
 * One container's share of the plan when it cannot coordinate with the others (the limiter's
 * table failed), assuming `containers` of them call at once: `limit / containers` calls per
 * window, or, where that is below one, one call per proportionally longer window. The first
 * keeps every window exact; the second keeps the average rate (containers cannot agree on time
 * slots without the table, so their single calls may still meet within one short window).
 */
export function shareOf(windows: readonly RateWindow[], containers: number): RateWindow[] {
  return windows.map((window) => {
    if (window.limit >= containers) {
      return { ...window, limit: Math.floor(window.limit / containers), label: `${window.label} ÷ ${containers}` };
    }
    return { limit: 1, windowMs: Math.ceil((window.windowMs * containers) / window.limit), label: `${window.label} ÷ ${containers}` };
  });
}
