import { setImmediate as afterPendingIo } from 'node:timers/promises';
import { describeError, logger } from '../platform/logger.ts';
import { perceptualHash, type OrientedPixels } from './matching.ts';
import type { DigestStore, ImageDigests, SeenBefore } from './store.ts';

/** REPLAY_POLICY: flag a replay in the answer (the default), refuse it without an upstream call, or neither. */
export type ReplayPolicy = 'flag' | 'refuse' | 'off';

/** The check's pixels, decoded at most once for every step that reads them; why not, when they are not. */
export type PicturePixels = () => Promise<{ ok: true; pixels: OrientedPixels } | { ok: false; reason: string }>;

/** One check's comparison with the images seen before. Never rejects. */
export interface ReplayInspection {
  /**
   * The first check of the same image, or of a copy of it; undefined when none (or the table
   * failed, which is logged). Known once this check's own digests are stored and looked up.
   */
  seen: Promise<SeenBefore | undefined>;
  /**
   * Once the check has ended: `checked` (it got an answer a retry would get again), its
   * `transactionId` is noted beside its digests for later checks to name, without holding the
   * answer (ReplayGuard.settled awaits it); not checked (refused as a replay, or the upstream
   * failed), its digests are taken back before it resolves, so that a retry is no replay of it.
   * Resolves with `seen`.
   */
  settle(checked: boolean, transactionId: string | undefined): Promise<SeenBefore | undefined>;
}

export interface ReplayGuardOptions {
  store: DigestStore;
  policy: Exclude<ReplayPolicy, 'off'>;
}

/**
 * Replay detection, a step of every check that holds image bytes: the image's digests (SHA-256
 * of its bytes, and the perceptual hash of its pixels when they are decoded) are stored, then
 * looked up among the images checked in the window; the SHA-256 first and alone, and only when no
 * other check had the same bytes are the pixels hashed (and, with `refuse`, decoded), and their
 * index keys written and read. Stored first, read consistently after: of two checks of one image at the same
 * moment, at least one sees the other (both, most often, and each is then flagged: neither came
 * first). A resent image stores no index keys of its own: a copy of it is found through the
 * first check's, while that one is kept.
 *
 * With `flag` the work starts once the upstream request is on its way (after pending I/O), so
 * the hash and the table's round trips overlap Deepvue's answer instead of delaying its call;
 * `refuse` waits for the lookup before the call. A table that fails never fails the check: the
 * check goes on unflagged, and a warning is logged (never a digest).
 *
 * @example
 * const inspection = guard.inspect(image.sha256, pixels, 'api-request#…');
 * if (guard.refuses && (await inspection.seen)) return refused; // after inspection.settle(false, undefined)
 * const outcome = await call();
 * const replay = await inspection.settle(isFinalAnswer(outcome), transactionIdOf(outcome.envelope));
 */
export class ReplayGuard {
  readonly #store: DigestStore;
  readonly #writes = new Set<Promise<void>>();
  readonly refuses: boolean;

  constructor(options: ReplayGuardOptions) {
    this.#store = options.store;
    this.refuses = options.policy === 'refuse';
  }

  inspect(sha256: string, pixels: PicturePixels | undefined, identity: string): ReplayInspection {
    const seenAt = new Date();
    // With `flag`, the table's first round trip waits for the pixels, decoded in their own thread
    // meanwhile: by then the upstream request is out, and the SDK's work on this thread never
    // delays it (started at once, it added 1.5 ms to a check's p50).
    const start = this.refuses ? Promise.resolve() : afterPendingIo().then(async () => void (await pixels?.()));
    // The exact digest first, alone: the same bytes sent again (the commonest replay) are known
    // from one write and one read, without hashing the image or reading its index keys
    // (nor decoding it, with `refuse`).
    const exact: ImageDigests = { sha256, perceptual: undefined, identity };
    const exactStored = start.then(() => this.#add(exact, seenAt));
    const exactSeen = exactStored.then(() => this.#find(exact));
    // A table that failed the first write is not asked again (a check is delayed once, not twice).
    const digests = exactSeen.then(async (found) => (found === undefined && (await exactStored) ? digestsOf(sha256, pixels, identity) : exact));
    const stored = digests.then(async (image) => (image.perceptual === undefined ? exactStored : this.#add(image, seenAt)));
    const seen = stored.then(async () => (await exactSeen) ?? (await this.#findSimilar(await digests)));
    return {
      seen,
      settle: async (checked, transactionId) => {
        const found = await seen;
        if (!(await stored)) return found;
        const image = await digests;
        // A withdrawal is rare (a refusal, a failure) and done before the answer, so that a quick
        // retry never finds it. The note is written once the answer is on its way (after pending
        // I/O): even the SDK's signing of it stays off the answer's path.
        if (!checked) await this.#afterAnswer(image, false, undefined);
        else this.#track(afterPendingIo().then(() => this.#afterAnswer(image, true, transactionId)));
        return found;
      },
    };
  }

  /** Stores the image's digests; false (logged) when the table failed. */
  async #add(image: ImageDigests, seenAt: Date): Promise<boolean> {
    return this.#store.add(image, seenAt).then(
      () => true,
      (error: unknown) => {
        logger.warn('replay digests could not be stored', { error: describeError(error) });
        return false;
      },
    );
  }

  /** The first check of the image seen before; undefined when none, or when the table failed (logged). */
  async #find(image: ImageDigests): Promise<SeenBefore | undefined> {
    return this.#store.find(image).catch((error: unknown) => {
      logger.warn('replay digests could not be looked up; the check goes on unflagged', { error: describeError(error) });
      return undefined;
    });
  }

  /** The first check of a similar picture (or of the same bytes, stored since), when the image has a perceptual hash. */
  async #findSimilar(image: ImageDigests): Promise<SeenBefore | undefined> {
    return image.perceptual === undefined ? undefined : this.#find(image);
  }

  /** Takes back the digests the check of `identity` stored for the image with this SHA-256 (an upload erased while it was checked). Never rejects. */
  async forget(sha256: string, identity: string): Promise<void> {
    await this.#store.forget(sha256, identity).catch((error: unknown) => {
      logger.warn('the digests of an erased upload could not be taken back', { error: describeError(error) });
    });
  }

  /** Resolves once every note and withdrawal started so far is written (or has failed, which is logged). */
  async settled(): Promise<void> {
    await Promise.all([...this.#writes]);
  }

  async #afterAnswer(image: ImageDigests, checked: boolean, transactionId: string | undefined): Promise<void> {
    try {
      if (!checked) await this.#store.withdraw(image);
      else if (transactionId !== undefined) await this.#store.noteAnswer(image, transactionId);
    } catch (error) {
      logger.warn(checked ? 'the answer of a check could not be noted beside its digests' : 'the digests of an unchecked image could not be taken back', {
        error: describeError(error),
      });
    }
  }

  #track(write: Promise<void>): void {
    this.#writes.add(write);
    void write.finally(() => this.#writes.delete(write));
  }
}

/** The image's digests: the perceptual hash only when its pixels could be decoded. */
async function digestsOf(sha256: string, pixels: PicturePixels | undefined, identity: string): Promise<ImageDigests> {
  const decoded = await pixels?.();
  if (decoded !== undefined && !decoded.ok) logger.info('no perceptual hash: the image is compared exactly only', { reason: decoded.reason });
  let perceptual: string | undefined;
  try {
    perceptual = decoded?.ok === true ? perceptualHash(decoded.pixels) : undefined;
  } catch (error) {
    logger.warn('no perceptual hash: the image is compared exactly only', { error: describeError(error) });
  }
  return { sha256, perceptual, identity };
}
