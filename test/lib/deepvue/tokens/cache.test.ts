import { afterEach, describe, expect, it } from 'vitest';
import { expiryTime, RENEW_MARGIN_MS, TOKEN_LIFETIME_MS, tokenTimes } from '../../../../lib/deepvue/tokens/cache.ts';

/**
 * Deepvue's authorize answer carries an `expiry` whose format it does not document: every
 * plausible form is read, and anything else falls back to the documented 24 hours.
 */
const HOUR = 60 * 60 * 1000;
const ISSUED_AT = Date.UTC(2026, 10, 26, 14, 0, 0);
/** Six hours after issue: within the 24 hours Deepvue documents, so trusted as stated. */
const SIX_HOURS = ISSUED_AT + 6 * HOUR;
const stated = (expiresAt: number) => ({ expiresAt, renewAt: expiresAt - RENEW_MARGIN_MS });
const FALLBACK = { expiresAt: ISSUED_AT + TOKEN_LIFETIME_MS, renewAt: ISSUED_AT + 23 * HOUR };

const originalZone = process.env.TZ;
afterEach(() => {
  if (originalZone === undefined) delete process.env.TZ;
  else process.env.TZ = originalZone;
});

describe('tokenTimes: an expiry Deepvue states', () => {
  it.each<[string, unknown, number]>([
    ['ISO-8601 in UTC', '2026-11-26T20:00:00Z', SIX_HOURS],
    ['ISO-8601 with milliseconds', '2026-11-26T20:00:00.250Z', SIX_HOURS + 250],
    ['ISO-8601 with an offset', '2026-11-27T01:30:00+05:30', SIX_HOURS],
    ['ISO-8601 with an offset without a colon', '2026-11-26T15:00:00-0500', SIX_HOURS],
    ['ISO-8601 with an hour-only offset', '2026-11-27T01:00:00+05', SIX_HOURS],
    ['ISO-8601 with microseconds and an offset (Python’s isoformat)', '2026-11-27T01:30:00.123456+05:30', SIX_HOURS + 123],
    ['ISO-8601 without a zone, read as UTC', '2026-11-26T20:00:00', SIX_HOURS],
    ['ISO-8601 without a zone, with microseconds', '2026-11-26T20:00:00.999999', SIX_HOURS + 999],
    ['a date and time with a space (Python’s str of a datetime), read as UTC', '2026-11-26 20:00:00', SIX_HOURS],
    ['epoch seconds', SIX_HOURS / 1000, SIX_HOURS],
    ['epoch seconds with a fraction', SIX_HOURS / 1000 + 0.5, SIX_HOURS + 500],
    ['epoch milliseconds', SIX_HOURS, SIX_HOURS],
    ['epoch seconds as text', String(SIX_HOURS / 1000), SIX_HOURS],
    ['epoch milliseconds as text', String(SIX_HOURS), SIX_HOURS],
  ])('%s', (_, expiry, expiresAt) => {
    expect(tokenTimes(expiry, ISSUED_AT)).toEqual(stated(expiresAt));
  });

  it('reads a time without a zone the same whatever the machine’s time zone is', () => {
    for (const zone of ['UTC', 'Asia/Kolkata', 'America/Los_Angeles', 'Pacific/Chatham']) {
      process.env.TZ = zone;
      expect(tokenTimes('2026-11-26T20:00:00', ISSUED_AT), zone).toEqual(stated(SIX_HOURS));
      expect(tokenTimes('2026-11-26 20:00:00', ISSUED_AT), zone).toEqual(stated(SIX_HOURS));
    }
  });

  it('trusts no expiry beyond the documented 24 hours, so a local time misread as UTC renews early, never late', () => {
    // 14:00 UTC + 24 h, written as India's local time without a zone: read as UTC, 5.5 hours too late.
    expect(tokenTimes('2026-11-27T19:30:00', ISSUED_AT)).toEqual(stated(ISSUED_AT + TOKEN_LIFETIME_MS));
    expect(tokenTimes('2026-11-28T14:00:00Z', ISSUED_AT)).toEqual(stated(ISSUED_AT + TOKEN_LIFETIME_MS));
    expect(tokenTimes((ISSUED_AT + 30 * 24 * HOUR) / 1000, ISSUED_AT)).toEqual(stated(ISSUED_AT + TOKEN_LIFETIME_MS));
  });

  it('renews a short-lived token half way through its life, not on every check', () => {
    const tenMinutes = ISSUED_AT + 10 * 60 * 1000;
    expect(tokenTimes(new Date(tenMinutes).toISOString(), ISSUED_AT)).toEqual({ expiresAt: tenMinutes, renewAt: ISSUED_AT + 5 * 60 * 1000 });
  });
});

describe('tokenTimes: no usable expiry → 24 hours, renewed after 23', () => {
  it.each<[string, unknown]>([
    ['absent', undefined],
    ['null', null],
    ['empty', ''],
    ['words', 'tomorrow'],
    ['an HTTP date', 'Fri, 27 Nov 2026 14:00:00 GMT'],
    ['a date that does not exist', '2026-02-30T10:00:00Z'],
    ['a time that does not exist', '2026-11-26T25:00:00Z'],
    ['an ISO-8601 duration', 'PT24H'],
    ['a number of seconds to live, which reads as 1970', 86_400],
    ['zero', 0],
    ['a negative number', -1],
    ['NaN', Number.NaN],
    ['infinity', Number.POSITIVE_INFINITY],
    ['a negative number as text', '-1764165600'],
    ['a boolean', true],
    ['an object', { at: '2026-11-26T20:00:00Z' }],
    ['a list', ['2026-11-26T20:00:00Z']],
    ['a time already past', '2026-11-26T13:00:00Z'],
    ['the issue time itself', ISSUED_AT],
  ])('%s', (_, expiry) => {
    expect(tokenTimes(expiry, ISSUED_AT)).toEqual(FALLBACK);
  });
});

describe('expiryTime', () => {
  it('reads a date alone as its midnight, UTC', () => {
    expect(expiryTime('2026-11-27')).toBe(Date.UTC(2026, 10, 27));
  });

  it('accepts lower-case separators and surrounding blanks', () => {
    expect(expiryTime(' 2026-11-26t20:00:00z ')).toBe(SIX_HOURS);
  });
});
