import { setTimeout as sleep } from 'node:timers/promises';
import { logger } from '../platform/logger.ts';
import type { RelayMetrics } from '../platform/metrics.ts';
import { shareOf, type RateWindow } from './limits.ts';
import { MemoryRateStore, RateStoreUnavailable, type RateStore } from './store.ts';
import { decide, type Priority, type WindowPolicy } from './window-log.ts';

/** No call can start before `startBy`: the caller answers 429, or the upload waits in its queue. */
export class CapacityUnavailable extends Error {
  override readonly name = 'CapacityUnavailable';
  /** How long until a call could be granted. */
  readonly waitMs: number;
  /** Whole seconds for `Retry-After` (at least 1). */
  readonly retryAfterSeconds: number;
  /** The average spacing of the calls the full window admits (`windowMs / limit`). */
  readonly paceMs: number;

  constructor(waitMs: number, window: RateWindow | undefined, fallbackPaceMs: number) {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    super(
      window === undefined
        ? `Deepvue capacity is held for interactive checks; retry in ${seconds} s`
        : `the Deepvue plan's limit of ${window.label} is reached (DEEPVUE_RATE_LIMITS); retry in ${seconds} s`,
    );
    this.waitMs = waitMs;
    this.retryAfterSeconds = seconds;
    this.paceMs = window === undefined ? fallbackPaceMs : Math.ceil(window.windowMs / window.limit);
  }
}

export interface RateLimiterOptions {
  /** The plan (parseRateLimits of DEEPVUE_RATE_LIMITS); never empty. */
  windows: readonly RateWindow[];
  /** The table shared by every container; unset, this container keeps to its share alone. */
  store?: RateStore | undefined;
  /** Whose plan this is (upstream and client_id): the store keys the state by its hash. */
  subject: () => Promise<string>;
  /** Containers expected to call at once (API and uploads): each one's share when the store fails. */
  containers: number;
  /** See WindowPolicy.marginMs. */
  marginMs: number;
  /** Share of each window kept for API checks, in percent (0 to 99). */
  apiReservePercent: number;
  metrics: Pick<RelayMetrics, 'rateLimiterFellBack'>;
  /** After a store failure, how long the container keeps to its share before trying the store again. */
  fallbackMs?: number;
  now?: () => number;
}

const DEFAULT_FALLBACK_MS = 10_000;
/** Consecutive lost commits after which the store is treated as failing (a normal race is lost a few times at most). */
const MAX_LOST_COMMITS = 50;
/** Uploads poll a little after API checks that wait for the same moment, so the API check is granted first. */
const UPLOAD_POLL_DELAY_MS = 5;
/** While an API check waits, how soon an upload looks again. */
const UPLOAD_YIELD_MS = 50;
/** Recent write latencies a container remembers, to stamp its grants when their calls will start. */
const WRITE_LATENCY_SAMPLES = 8;
/** The most a grant's stamp is put ahead of its decision. */
const MAX_STAMP_LEAD_MS = 1000;
/** The most a check gives up of its deadline to waiting: the call itself needs the rest. */
const CALL_RESERVE_MS = 5000;

/**
 * The plan-aware limiter shared by every container and both paths. Each call asks first; the
 * answer comes from one item in the token table, read consistently and replaced with a
 * conditional write (a lost race is read again), so all containers keep to every window of the
 * plan together. API checks come first: uploads leave part of each window to them
 * (`apiReservePercent`) and stand aside while an API check waits. When the table fails, the
 * container keeps to its share of the plan (`containers`) in memory for `fallbackMs`, logs it
 * and counts `RateLimiterFallbacks`; no check fails because of the table.
 *
 * @example
 * const limiter = new RateLimiter({ windows: parseRateLimits('starter'), store, subject, containers: 4, marginMs: 100, apiReservePercent: 20, metrics });
 * await limiter.acquire('api', Date.now() + 15_000); // resolves when a call may start, or throws CapacityUnavailable
 */
export class RateLimiter {
  readonly #shared: { store: RateStore; policy: WindowPolicy } | undefined;
  readonly #local: { store: RateStore; policy: WindowPolicy };
  readonly #subject: () => Promise<string>;
  readonly #metrics: Pick<RelayMetrics, 'rateLimiterFellBack'>;
  readonly #fallbackMs: number;
  readonly #now: () => number;
  /** How long after its stamp a call may still start on its grant: half the margin (the rest is for the network). */
  readonly #lateStartMs: number;
  #fallbackUntil = 0;
  /** Latencies of this container's recent commits to the shared store, newest last. */
  readonly #writeLatencies: number[] = [];

  constructor(options: RateLimiterOptions) {
    if (options.windows.length === 0) throw new Error('a rate limiter needs at least one window');
    const policy = (windows: readonly RateWindow[]): WindowPolicy => ({
      windows,
      marginMs: options.marginMs,
      apiReserve: Math.min(99, Math.max(0, options.apiReservePercent)) / 100,
      yieldMs: UPLOAD_YIELD_MS,
    });
    this.#shared = options.store === undefined ? undefined : { store: options.store, policy: policy(options.windows) };
    this.#local = { store: new MemoryRateStore(), policy: policy(shareOf(options.windows, Math.max(1, options.containers))) };
    this.#subject = options.subject;
    this.#metrics = options.metrics;
    this.#fallbackMs = options.fallbackMs ?? DEFAULT_FALLBACK_MS;
    this.#now = options.now ?? Date.now;
    this.#lateStartMs = options.marginMs / 2;
  }

  /**
   * The latest moment a call may start for a check that must be answered by `deadlineAt`: until
   * half its time, or 5 s, is left for the call itself. An API check that cannot start by then
   * answers 429; an upload goes back to its queue (its deadline is kept within its invocation's
   * time, so a wait never outlasts the invocation or the message's visibility).
   */
  startBy(deadlineAt: number): number {
    return deadlineAt - Math.min(CALL_RESERVE_MS, (deadlineAt - this.#now()) / 2);
  }

  /** Resolves when a call may start now (and counts it); throws CapacityUnavailable when that is not before `startBy`. */
  async acquire(priority: Priority, startBy: number): Promise<void> {
    const subject = await this.#subject();
    if (this.#shared !== undefined && this.#now() >= this.#fallbackUntil) {
      try {
        return await this.#acquireFrom(this.#shared, subject, priority, startBy);
      } catch (error) {
        if (!(error instanceof RateStoreUnavailable)) throw error;
        this.#fallbackUntil = this.#now() + this.#fallbackMs;
        logger.warn('rate limiter table unavailable; keeping to this container’s share of the plan', { error: error.message });
      }
    }
    if (this.#shared !== undefined) this.#metrics.rateLimiterFellBack();
    return this.#acquireFrom(this.#local, subject, priority, startBy);
  }

  async #acquireFrom(tier: { store: RateStore; policy: WindowPolicy }, subject: string, priority: Priority, startBy: number): Promise<void> {
    // An API check that has to wait marks the state until its latest start, so that uploads
    // leave it the next call; it removes the mark once served (or given up).
    let announced: number | undefined;
    // This container's grant whose write was answered too late to start its call on: replaced by the next.
    let unused: number | undefined;
    try {
      for (let lost = 0; ; ) {
        const readAt = this.#now();
        const stored = await tier.store.read(subject);
        const state = unused === undefined ? stored : { ...stored, grants: stored.grants.filter((grant) => grant !== unused) };
        const now = this.#now();
        // The call starts only once the grant is written: stamped then (by the slowest recent
        // write, or the read just made, whichever took longer), the calls' spacing holds even when
        // a write is slow; the margin covers the rest.
        const lead = tier === this.#shared ? Math.min(MAX_STAMP_LEAD_MS, Math.max(now - readAt, ...this.#writeLatencies)) : 0;
        const decision = decide(state, now, priority, tier.policy, now + lead);
        if (decision.granted) {
          const committed = await tier.store.commit(subject, stored.version, decision.grants);
          if (tier === this.#shared) this.#noteWrite(this.#now() - now);
          if (!committed) {
            lost += 1;
            if (lost >= MAX_LOST_COMMITS) throw new RateStoreUnavailable(`lost ${lost} commits in a row`);
            continue; // another container took a call since the read: judge again with its grant
          }
          // Every container judges the window by the stamp, so a call must start close to it. One
          // whose write was answered later than the stamp allows (a latency spike, a stalled event
          // loop) does not start on this grant: the grant stays in the log, counted as a call,
          // until the next one, stamped by the write times just seen, replaces it.
          const lateMs = this.#now() - decision.stamp;
          if (lateMs <= this.#lateStartMs) return;
          logger.info('rate limiter grant written too late to start its call on; taking another', { lateMs });
          unused = decision.stamp;
          continue;
        }
        if (decision.until > startBy) throw new CapacityUnavailable(decision.until - now, decision.window, tier.policy.yieldMs);
        if (priority === 'api' && state.apiWaitingUntil < startBy) {
          announced = startBy;
          await tier.store.announceApiWait(subject, startBy);
        }
        await sleep(decision.until - now + (priority === 'upload' ? UPLOAD_POLL_DELAY_MS : 0));
      }
    } finally {
      // Not awaited: the call must start close to its stamp, not one more write later, and the
      // mark is advisory (uploads only stand aside until it lapses at its time).
      if (announced !== undefined) tier.store.clearApiWait(subject, announced).catch(() => undefined);
    }
  }

  #noteWrite(latencyMs: number): void {
    this.#writeLatencies.push(latencyMs);
    if (this.#writeLatencies.length > WRITE_LATENCY_SAMPLES) this.#writeLatencies.shift();
  }
}
