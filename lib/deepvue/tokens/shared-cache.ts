import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpstreamFailure } from '../client.ts';
import { describeError, logger } from '../../platform/logger.ts';
import type { RelayMetrics } from '../../platform/metrics.ts';
import { MemoryTokenCache, type AccessToken, type Authorize, type TokenProvider } from './cache.ts';
import { TokenStoreUnavailable, type TokenStore } from './dynamo-store.ts';

export interface SharedTokenCacheOptions {
  authorize: Authorize;
  store: TokenStore;
  /** Whose token this is (upstream and client_id); the store keys the item by its hash. */
  subject: () => Promise<string>;
  metrics: Pick<RelayMetrics, 'tokenCacheFellBack'>;
  /** Longest a renewal may hold the lease; a holder that died is taken over after it. */
  leaseMs?: number;
  /** First wait before reading again while another container renews; doubles up to 10×, jittered ±50 %. */
  pollMs?: number;
  now?: () => number;
}

export const DEFAULT_LEASE_MS = 10_000;
export const DEFAULT_POLL_MS = 100;
const MAX_POLL_FACTOR = 10;

/**
 * The two-tier token cache: memory first (one renewal per container, shared by concurrent
 * callers), then the shared store, where a lease taken with a conditional write lets exactly one
 * container renew while the others wait for its token. When the store fails, the container
 * authorizes on its own: a check never fails because of the token table.
 *
 * @example
 * const tokens = new SharedTokenCache({ authorize, store, subject: async () => `${baseUrl}\n${clientId}`, metrics });
 * const { value } = await tokens.get(Date.now() + 5000);
 */
export class SharedTokenCache implements TokenProvider {
  readonly #memory: MemoryTokenCache;
  readonly #authorize: Authorize;
  readonly #store: TokenStore;
  readonly #subject: () => Promise<string>;
  readonly #metrics: Pick<RelayMetrics, 'tokenCacheFellBack'>;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #now: () => number;

  constructor(options: SharedTokenCacheOptions) {
    this.#authorize = options.authorize;
    this.#store = options.store;
    this.#subject = options.subject;
    this.#metrics = options.metrics;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.#now = options.now ?? Date.now;
    // The memory tier's single flight makes the store protocol run once per container at a time.
    this.#memory = new MemoryTokenCache({ authorize: (deadlineAt) => this.#fromStore(deadlineAt), now: this.#now });
  }

  get(deadlineAt: number): Promise<AccessToken> {
    return this.#memory.get(deadlineAt);
  }

  async invalidate(token: string): Promise<void> {
    await this.#memory.invalidate(token);
    try {
      await this.#store.removeToken(await this.#subject(), token);
    } catch (error) {
      if (!(error instanceof TokenStoreUnavailable)) throw error;
      this.#fellBack('drop the refused token', error);
    }
  }

  async #fromStore(deadlineAt: number): Promise<AccessToken> {
    const subject = await this.#subject();
    try {
      return await this.#shared(subject, deadlineAt);
    } catch (error) {
      if (!(error instanceof TokenStoreUnavailable)) throw error;
      this.#fellBack('read or lease the shared token', error);
      return this.#authorize(deadlineAt);
    }
  }

  /** Reads the shared token, renews it under the lease when it is due, or waits for the holder's renewal. */
  async #shared(subject: string, deadlineAt: number): Promise<AccessToken> {
    for (let waits = 0; ; ) {
      const now = this.#now();
      if (now >= deadlineAt) throw new UpstreamFailure('UPSTREAM_TIMEOUT', 'no access token before the deadline');
      const { token, leaseUntil } = await this.#store.read(subject);
      if (token !== undefined && now < token.renewAt) return token;
      const renewing = leaseUntil !== undefined && now < leaseUntil;
      // Inside the renewal margin the old token is still good while another container renews it.
      if (token !== undefined && now < token.expiresAt && renewing) return token;
      if (!renewing) {
        const holder = randomUUID();
        // The holder's authorize ends with its lease, so nobody else renews while it may still succeed.
        const until = Math.min(now + this.#leaseMs, deadlineAt);
        if (await this.#store.takeLease(subject, holder, now, until)) return this.#renew(subject, holder, until);
        continue; // lost the race: the winner's lease or token is there to read
      }
      // Growing, jittered waits: a burst of cold containers must not throttle the item's partition.
      const pollMs = Math.min(this.#pollMs * 2 ** waits, this.#pollMs * MAX_POLL_FACTOR);
      waits += 1;
      await sleep(Math.min(pollMs * (0.5 + Math.random()), deadlineAt - now));
    }
  }

  async #renew(subject: string, holder: string, leaseUntil: number): Promise<AccessToken> {
    let token: AccessToken;
    try {
      token = await this.#authorize(leaseUntil);
    } catch (error) {
      // Let a waiting container try at once instead of after the lease runs out.
      await this.#store.releaseLease(subject, holder).catch((releaseError: unknown) => {
        logger.warn('could not release the token renewal lease', { error: describeError(releaseError) });
      });
      throw error;
    }
    try {
      const version = await this.#store.saveToken(subject, holder, token);
      if (version === undefined) logger.warn('the token renewal lease ran out before the token was saved; it serves this container only');
    } catch (error) {
      if (!(error instanceof TokenStoreUnavailable)) throw error;
      this.#fellBack('save the renewed token', error);
    }
    return token;
  }

  #fellBack(operation: string, error: TokenStoreUnavailable): void {
    logger.warn('token table unavailable; using this container alone', { operation, error: error.message });
    this.#metrics.tokenCacheFellBack();
  }
}
