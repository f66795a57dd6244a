import { describeError, logger } from '../platform/logger.ts';
import { perceptualHash, type OrientedPixels } from './perceptual.ts';
import type { DigestStore, ImageDigests, SeenBefore } from './store.ts';

/** REPLAY_POLICY: flag a replay in the answer (the default), refuse it without an upstream call, or neither. */
export type ReplayPolicy = 'flag' | 'refuse' | 'off';

/** The check's pixels, decoded at most once for every step that reads them; why not, when they are not. */
export type PicturePixels = () => Promise<{ ok: true; pixels: OrientedPixels } | { ok: false; reason: string }>;

/** One check's comparison with the images seen before. Never rejects. */
export interface ReplayInspection {
  /** The first check of the same image, or of a copy of it; undefined when none (or the table failed, which is logged). */
  seen: Promise<SeenBefore | undefined>;
  /** Once the check has answered (with `transactionId`, when its envelope has one): its digests stored and the id noted, then what `seen` found. */
  settle(transactionId: string | undefined): Promise<SeenBefore | undefined>;
}

export interface ReplayGuardOptions {
  store: DigestStore;
  policy: Exclude<ReplayPolicy, 'off'>;
}

/**
 * Replay detection, a step of every check that holds image bytes: the image's digests (SHA-256
 * of its bytes, and the perceptual hash of its pixels when they are decoded) are looked up among
 * the images checked in the window and stored for the checks to come. It starts as soon as the
 * image is accepted, so with `flag` the lookup and the writes run while Deepvue is being asked;
 * `refuse` waits for the lookup before the call. A table that fails never fails the check: the
 * check goes on unflagged, and a warning is logged (never a digest).
 *
 * @example
 * const inspection = guard.inspect(image.sha256, pixels, 'api-request#…');
 * if (guard.refuses && (await inspection.seen)) return refused;
 * const outcome = await call();
 * const replay = await inspection.settle(transactionIdOf(outcome.envelope));
 */
export class ReplayGuard {
  readonly #store: DigestStore;
  readonly refuses: boolean;

  constructor(options: ReplayGuardOptions) {
    this.#store = options.store;
    this.refuses = options.policy === 'refuse';
  }

  inspect(sha256: string, pixels: PicturePixels | undefined, identity: string): ReplayInspection {
    const seenAt = new Date();
    const digests = digestsOf(sha256, pixels, identity);
    const seen = digests.then((image) => this.#store.find(image)).catch((error: unknown) => {
      logger.warn('replay digests could not be looked up; the check goes on unflagged', { error: describeError(error) });
      return undefined;
    });
    // A refused image was not checked: nothing of it is stored.
    const stored = seen.then(async (found) => {
      if (this.refuses && found !== undefined) return undefined;
      const image = await digests;
      await this.#store.add(image, seenAt);
      return image;
    }).catch((error: unknown) => {
      logger.warn('replay digests could not be stored', { error: describeError(error) });
      return undefined;
    });
    return {
      seen,
      settle: async (transactionId) => {
        const image = await stored;
        if (image !== undefined && transactionId !== undefined) {
          await this.#store.noteAnswer(image, transactionId).catch((error: unknown) => {
            logger.warn('the answer of a check could not be noted beside its digests', { error: describeError(error) });
          });
        }
        return seen;
      },
    };
  }
}

/** The image's digests: the perceptual hash only when its pixels could be decoded. */
async function digestsOf(sha256: string, pixels: PicturePixels | undefined, identity: string): Promise<ImageDigests> {
  const decoded = await pixels?.();
  if (decoded !== undefined && !decoded.ok) logger.info('no perceptual hash: the image is compared exactly only', { reason: decoded.reason });
  return { sha256, perceptual: decoded?.ok === true ? perceptualHash(decoded.pixels) : undefined, identity };
}
