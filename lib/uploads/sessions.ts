import { relayOutcome, type CheckOutcome, type Provider } from '../check/outcome.ts';
import type { Envelope, RelaySubCode } from '../platform/envelope.ts';
import { describeError, logger } from '../platform/logger.ts';
import type { DiscardReason, RelayMetrics } from '../platform/metrics.ts';
import { sessionOfKey, type CheckedImage } from '../sessions/session.ts';
import type { SessionStore } from '../sessions/store.ts';
import { versionGone, type Examined } from './examined.ts';
import type { UploadEventObject } from './notifications.ts';
import type { S3Objects } from './objects.ts';
import type { UploadStatus } from './results.ts';

export interface SessionUploadsOptions {
  store: SessionStore;
  uploadPrefix: string;
  /** The upload bucket, loaded with the first upload. */
  objects: () => Promise<S3Objects>;
  metrics: RelayMetrics;
}

/** Why an object was not let through to its session's check: its answer, and what the metric calls it. */
type Refusal = { reason: DiscardReason; subCode: RelaySubCode; message: string };

const REFUSALS = {
  'no-session': { reason: 'no-session', subCode: 'NOT_FOUND', message: 'no liveness session has this key' },
  used: { reason: 'session-used', subCode: 'SESSION_USED', message: 'the session had already received an image' },
  expired: { reason: 'session-expired', subCode: 'SESSION_EXPIRED', message: 'the image arrived after its session had expired' },
  late: { reason: 'form-expired', subCode: 'SESSION_EXPIRED', message: 'the image arrived when no upload form of its session was valid' },
  type: { reason: 'type-not-allowed', subCode: 'UNSUPPORTED_IMAGE_FORMAT', message: 'the image was stored with a content type its session’s upload form did not allow' },
  size: { reason: 'too-large', subCode: 'PAYLOAD_TOO_LARGE', message: 'the image is larger than its session’s upload form allowed' },
} as const satisfies Record<string, Refusal>;

/**
 * The upload path's side of liveness sessions. An object under `<UPLOAD_PREFIX>sessions/` is
 * checked only by the version that moves its session PENDING → CHECKING, which it may only if it
 * is what an upload form of the session allowed (arrived while one was valid, of its type and
 * size), and at most once with an upstream call. Any other version reaching the key (a second
 * upload after the first was checked, one after the session expired, one no form allowed, a key
 * no session has) is deleted on arrival, unchecked, recorded REJECTED and counted
 * (`UploadsDiscarded`): nothing that was not checked stays where a session's image is read.
 *
 * @example
 * const examined = await sessions.examine(object, finalReceive, provider, () => examineObject(object));
 * // ... once the outcome is recorded:
 * await sessions.settle(object, status, outcome, examined.sha256);
 */
export class SessionUploads {
  readonly #store: SessionStore;
  readonly #uploadPrefix: string;
  readonly #objects: () => Promise<S3Objects>;
  readonly #metrics: RelayMetrics;

  constructor(options: SessionUploadsOptions) {
    this.#store = options.store;
    this.#uploadPrefix = options.uploadPrefix;
    this.#objects = options.objects;
    this.#metrics = options.metrics;
  }

  /**
   * Runs `examine` (read the object, check it) for any object outside the sessions folder, and for
   * a session's object once it has claimed the session. A check that failed transiently after
   * reaching the upstream is FAILED, never retried; one that failed or waited before it gives the
   * claim back for the next receive, except on the last, whose FAILED settles the session.
   * Throws when a version to discard cannot be deleted: the message comes back to try again.
   */
  async examine(
    object: UploadEventObject,
    finalReceive: boolean,
    provider: Provider,
    examine: () => Promise<Examined>,
  ): Promise<Examined> {
    const session = sessionOfKey(this.#uploadPrefix, object.key);
    if (session === undefined) return examine();
    const discard = (refusal: Refusal) => this.#discard(object, refusal, provider);
    if (session.ref === undefined) return discard(REFUSALS['no-session']);

    const head = await (await this.#objects()).head(object);
    if (head.kind === 'gone') return versionGone(head.reason, provider);
    const image = imageOf(object);
    const claim = await this.#store.claim(session.ref, image, { at: object.arrivedAt, contentType: head.contentType, size: head.size });
    switch (claim) {
      case 'missing':
        return discard(REFUSALS['no-session']);
      case 'expired':
      case 'used':
      case 'late':
      case 'type':
      case 'size':
        return discard(REFUSALS[claim]);
      case 'settled':
        // Delivered again after it ended the session (a redrive after its last receive): it is
        // the image the result names, so it stays, and so does the result its check recorded.
        return { status: 'REJECTED', outcome: relayOutcome('SESSION_USED', 'this image already ended its session; it was not checked again', provider), answered: true };
      case 'resumed': {
        const message = 'the check of this session was interrupted and is not repeated: a session makes at most one upstream call';
        return { status: 'FAILED', outcome: relayOutcome('INTERNAL_SERVER_ERROR', message, provider) };
      }
      case 'claimed':
        break;
    }

    const examined = await examine();
    if (examined.status === 'retry' && examined.outcome.upstream.attempts > 0) return { ...examined, status: 'FAILED' };
    // Not checked (the object replaced, the plan's limiter holding the call back, a passing
    // fault before the call): the claim goes back for the next receive or the newer version.
    const again = examined.gone === true || examined.status === 'defer' || (examined.status === 'retry' && !finalReceive);
    if (again) await this.#store.release(session.ref, image);
    return examined;
  }

  /** Ends the session with the recorded outcome, its signature and what the replay step found, if this version is the one that claimed it. */
  async settle(object: UploadEventObject, status: UploadStatus, outcome: CheckOutcome, sha256: string | undefined): Promise<void> {
    const ref = sessionOfKey(this.#uploadPrefix, object.key)?.ref;
    if (ref !== undefined) await this.#store.settle(ref, { version: object.version, sha256: sha256 ?? null }, status, outcome.envelope, new Date(), outcome.signature, outcome.replay);
  }

  /** Deletes the version (only it), counts it, and gives its REJECTED outcome (`gone`: nothing is left to tag). */
  async #discard(object: UploadEventObject, refusal: Refusal, provider: Provider): Promise<Examined> {
    try {
      await (await this.#objects()).deleteVersion(object);
    } catch (error) {
      logger.error('could not delete an upload its session refused; the message will come back', { reason: refusal.reason, error: describeError(error) });
      throw error;
    }
    this.#metrics.uploadDiscarded(refusal.reason);
    logger.warn('upload at a session key deleted unchecked', { reason: refusal.reason });
    return { status: 'REJECTED', outcome: relayOutcome(refusal.subCode, `${refusal.message}; it was deleted unchecked`, provider), gone: true };
  }
}

const imageOf = (object: UploadEventObject): Omit<CheckedImage, 'sha256'> => ({
  bucket: object.bucket,
  key: object.key,
  version: object.version,
  version_id: object.versionId ?? null,
  etag: object.eTag ?? null,
});
