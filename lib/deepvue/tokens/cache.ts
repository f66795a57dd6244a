/** A Deepvue access token and when to stop using it. */
export interface AccessToken {
  value: string;
  /** Epoch milliseconds after which Deepvue rejects the token. */
  expiresAt: number;
  /** Epoch milliseconds from which the token is renewed before use, ahead of its expiry. */
  renewAt: number;
}

/** Calls Deepvue's `/v1/authorize`; the deadline bounds the call like any upstream call. */
export type Authorize = (deadlineAt: number) => Promise<AccessToken>;

/** Hands out a usable access token; `invalidate` drops one the upstream has refused. */
export interface TokenProvider {
  get(deadlineAt: number): Promise<AccessToken>;
  /** Drops `token` from every tier, but only while it is still the one held there. */
  invalidate(token: string): Promise<void>;
}

export const RENEW_MARGIN_MS = 15 * 60 * 1000;
/** Deepvue documents a token as valid for 24 hours; no stated expiry is trusted beyond that. */
export const TOKEN_LIFETIME_MS = 24 * 60 * 60 * 1000;
const RENEW_AFTER_WITHOUT_EXPIRY_MS = 23 * 60 * 60 * 1000;

/**
 * When to renew a token issued at `issuedAt`, from Deepvue's `expiry` (see expiryTime): a margin
 * ahead of the stated expiry, but never before half the token's life, so a short-lived token is
 * not renewed on every check. No stated expiry, or one in the past, means 24 hours with renewal
 * after 23. A stated expiry beyond the documented 24 hours is cut to 24 hours: a misread zone (a
 * local time taken for UTC) then renews early instead of using a dead token.
 */
export function tokenTimes(expiry: unknown, issuedAt: number): Pick<AccessToken, 'expiresAt' | 'renewAt'> {
  const stated = expiryTime(expiry);
  if (stated === undefined || stated <= issuedAt) {
    return { expiresAt: issuedAt + TOKEN_LIFETIME_MS, renewAt: issuedAt + RENEW_AFTER_WITHOUT_EXPIRY_MS };
  }
  const expiresAt = Math.min(stated, issuedAt + TOKEN_LIFETIME_MS);
  return { expiresAt, renewAt: Math.max(expiresAt - RENEW_MARGIN_MS, issuedAt + (expiresAt - issuedAt) / 2) };
}

/** Below this an epoch number counts seconds (1e11 s is the year 5138; 1e11 ms fell in 1973). */
const EPOCH_SECONDS_BELOW = 1e11;
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * The instant Deepvue's `expiry` names, in epoch milliseconds, or undefined when it names none.
 * Deepvue does not document the format, so each plausible one is read: ISO-8601 with a zone;
 * ISO-8601 without one, read as UTC (the reading must not depend on the machine's time zone, and
 * tokenTimes cuts a misread to 24 hours); epoch seconds or milliseconds, as a number or as text.
 * Parsed by hand: Date.parse reads a time without a zone as local time and accepts many forms
 * that are not ISO-8601.
 */
export function expiryTime(expiry: unknown): number | undefined {
  const text = typeof expiry === 'string' ? expiry.trim() : undefined;
  const epoch = typeof expiry === 'number' ? expiry : text !== undefined && /^\d+(\.\d+)?$/.test(text) ? Number(text) : undefined;
  if (epoch !== undefined) {
    if (!Number.isFinite(epoch) || epoch <= 0) return undefined;
    return Math.round(epoch < EPOCH_SECONDS_BELOW ? epoch * 1000 : epoch);
  }
  const match = text === undefined ? null : ISO_8601.exec(text);
  if (match === null) return undefined;
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', zone = 'Z'] = match;
  const fields = [year, month, day, hour, minute, second].map(Number) as [number, number, number, number, number, number];
  const millis = Number(fraction.slice(0, 3).padEnd(3, '0'));
  const utc = Date.UTC(fields[0], fields[1] - 1, fields[2], fields[3], fields[4], fields[5], millis);
  // Date.UTC rolls 31 April over to 1 May; a date that does not exist is no expiry.
  const check = new Date(utc);
  if (check.getUTCMonth() !== fields[1] - 1 || check.getUTCDate() !== fields[2] || fields[3] > 23 || fields[4] > 59 || fields[5] > 59) return undefined;
  return utc - zoneOffsetMs(zone);
}

/** `Z`, `+05:30`, `+0530` or `+05` as milliseconds ahead of UTC. */
function zoneOffsetMs(zone: string): number {
  if (zone === 'Z' || zone === 'z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0')) * 60_000;
}

export interface MemoryTokenCacheOptions {
  authorize: Authorize;
  now?: () => number;
}

/**
 * The per-container tier: keeps the token in memory and lets concurrent callers share one
 * renewal.
 *
 * @example
 * const tokens = new MemoryTokenCache({ authorize: (deadlineAt) => client.authorize(credentials, deadlineAt) });
 * const { value } = await tokens.get(Date.now() + 5000);
 */
export class MemoryTokenCache implements TokenProvider {
  readonly #authorize: Authorize;
  readonly #now: () => number;
  #token: AccessToken | undefined;
  #renewal: Promise<AccessToken> | undefined;

  constructor(options: MemoryTokenCacheOptions) {
    this.#authorize = options.authorize;
    this.#now = options.now ?? Date.now;
  }

  async get(deadlineAt: number): Promise<AccessToken> {
    if (this.#token !== undefined && this.#now() < this.#token.renewAt) return this.#token;
    this.#renewal ??= this.#authorize(deadlineAt)
      .then((token) => {
        this.#token = token;
        return token;
      })
      .finally(() => {
        this.#renewal = undefined;
      });
    return this.#renewal;
  }

  async invalidate(token: string): Promise<void> {
    if (this.#token?.value === token) this.#token = undefined;
  }
}
