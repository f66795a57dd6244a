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
export const TOKEN_LIFETIME_MS = 24 * 60 * 60 * 1000;
const RENEW_AFTER_WITHOUT_EXPIRY_MS = 23 * 60 * 60 * 1000;

/**
 * When to renew a token issued at `issuedAt` with Deepvue's `expiry` (ISO-8601, possibly absent):
 * a margin ahead of the stated expiry, or 23 hours when Deepvue states none.
 */
export function tokenTimes(expiry: unknown, issuedAt: number): Pick<AccessToken, 'expiresAt' | 'renewAt'> {
  const stated = typeof expiry === 'string' ? Date.parse(expiry) : Number.NaN;
  if (Number.isFinite(stated) && stated > issuedAt) {
    return { expiresAt: stated, renewAt: Math.max(issuedAt, stated - RENEW_MARGIN_MS) };
  }
  return { expiresAt: issuedAt + TOKEN_LIFETIME_MS, renewAt: issuedAt + RENEW_AFTER_WITHOUT_EXPIRY_MS };
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
