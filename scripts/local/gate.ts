import PQueue from 'p-queue';

/**
 * What stands between a function and a burst, in the spirit of Lambda's reserved concurrency:
 * at most `concurrency` invocations run at once, at most `queueLength` more wait, none longer
 * than `maxWaitMs` from its arrival. A request is admitted once its body has been read, as API
 * Gateway reads a body before it invokes, so a client slow to send holds no place; memory stays
 * bounded by (concurrency + queueLength) bodies per function, plus the ReadingBudget of bodies
 * still arriving.
 */
export interface GateLimits {
  concurrency: number;
  queueLength: number;
  maxWaitMs: number;
}

/** The waiting ended before a slot freed: the request is answered as throttled. */
export class GateTimeout extends Error {
  override readonly name = 'GateTimeout';
}

/** A place held from the moment a request is admitted until its invocation settles. */
export interface Ticket {
  /**
   * Waits for a slot (until `maxWaitMs` after admission, else rejects with GateTimeout; a slot free
   * at once is taken even later) and runs `task`; the slot stays taken until `task` settles, then
   * the ticket is returned.
   */
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Returns the ticket unused (the request ended before it was run). */
  release(): void;
}

export class InvocationGate {
  readonly #limits: GateLimits;
  readonly #slots: PQueue;
  #held = 0;

  constructor(limits: GateLimits) {
    this.#limits = limits;
    this.#slots = new PQueue({ concurrency: limits.concurrency });
  }

  /** Invocations running now. */
  get running(): number {
    return this.#slots.pending;
  }

  /** Tickets held: requests admitted and not finished, running or not. */
  get held(): number {
    return this.#held;
  }

  /** A ticket, or undefined when every slot and every place in the queue is taken. */
  admit(): Ticket | undefined {
    if (this.#held >= this.#limits.concurrency + this.#limits.queueLength) return undefined;
    this.#held += 1;
    const admittedAt = Date.now();
    let returned = false;
    const release = () => {
      if (returned) return;
      returned = true;
      this.#held -= 1;
    };
    return {
      release,
      run: async <T>(task: () => Promise<T>): Promise<T> => {
        // Aborting the queue's signal while the task runs would free its slot with the work still
        // going; so the wait is ended by hand, and only while the task has not started.
        const waiting = new AbortController();
        const left = this.#limits.maxWaitMs - (Date.now() - admittedAt);
        const timer = setTimeout(() => waiting.abort(new GateTimeout(`no free slot within ${this.#limits.maxWaitMs} ms`)), Math.max(0, left));
        try {
          return await this.#slots.add(() => {
            clearTimeout(timer);
            return task();
          }, { signal: waiting.signal });
        } finally {
          clearTimeout(timer);
          release();
        }
      },
    };
  }
}

/** The bodies still arriving, all requests together, may not hold more than this: the request that would is refused. */
export class ReadingBudget {
  #left: number;

  constructor(bytes: number) {
    this.#left = bytes;
  }

  /** One request's share: it takes bytes as they arrive, and gives all back once its body is read or dropped. */
  reader(): { take(bytes: number): boolean; release(): void } {
    let held = 0;
    return {
      take: (bytes) => {
        if (bytes > this.#left) return false;
        this.#left -= bytes;
        held += bytes;
        return true;
      },
      release: () => {
        this.#left += held;
        held = 0;
      },
    };
  }
}
