import type { LimiterState } from './window-log.ts';

/** The limiter's state as a store holds it; `version` counts the commits, for conditional writes. */
export interface StoredLimiterState extends LimiterState {
  version: number;
}

/**
 * Where the grants of one Deepvue key are kept, keyed by `subject` (which upstream and which
 * client_id). `commit` is a conditional write: it resolves false when another container committed
 * since `version` was read (the protocol's normal race), and every method throws
 * RateStoreUnavailable on a fault of the store itself.
 */
export interface RateStore {
  read(subject: string): Promise<StoredLimiterState>;
  /** Replaces the grant log, only while the state is still at `version`. */
  commit(subject: string, version: number, grants: number[]): Promise<boolean>;
  /** Records that an API check waits for capacity until `until` at the latest, unless a later wait is already recorded. */
  announceApiWait(subject: string, until: number): Promise<void>;
  /** Removes the wait recorded as `until` (the check was served); a later one another check recorded stays. */
  clearApiWait(subject: string, until: number): Promise<void>;
}

/** The store failed (throttled, timed out, unreachable, table missing, ...): the container falls back to its share. */
export class RateStoreUnavailable extends Error {
  override readonly name = 'RateStoreUnavailable';
}

/**
 * One container's memory: the limiter of a container alone (no table configured) and the
 * fallback when the table fails. JavaScript runs each method to its end before another starts,
 * so reads and commits need no lock.
 */
export class MemoryRateStore implements RateStore {
  readonly #states = new Map<string, StoredLimiterState>();

  async read(subject: string): Promise<StoredLimiterState> {
    const state = this.#states.get(subject) ?? { grants: [], apiWaitingUntil: 0, version: 0 };
    return { ...state, grants: [...state.grants] };
  }

  async commit(subject: string, version: number, grants: number[]): Promise<boolean> {
    const state = this.#states.get(subject) ?? { grants: [], apiWaitingUntil: 0, version: 0 };
    if (state.version !== version) return false;
    this.#states.set(subject, { ...state, grants: [...grants], version: version + 1 });
    return true;
  }

  async announceApiWait(subject: string, until: number): Promise<void> {
    const state = this.#states.get(subject) ?? { grants: [], apiWaitingUntil: 0, version: 0 };
    this.#states.set(subject, { ...state, apiWaitingUntil: Math.max(state.apiWaitingUntil, until) });
  }

  async clearApiWait(subject: string, until: number): Promise<void> {
    const state = this.#states.get(subject);
    if (state?.apiWaitingUntil === until) this.#states.set(subject, { ...state, apiWaitingUntil: 0 });
  }
}
