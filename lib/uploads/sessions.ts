import { relayOutcome, type Provider } from '../check/outcome.ts';
import type { Envelope, RelaySubCode } from '../platform/envelope.ts';
import { sessionOfKey, type SessionImage } from '../sessions/session.ts';
import type { SessionStore } from '../sessions/store.ts';
import type { Examined } from './checker.ts';
import type { UploadEventObject } from './notifications.ts';
import type { UploadStatus } from './results.ts';

export interface SessionUploadsOptions {
  store: SessionStore;
  uploadPrefix: string;
}

/**
 * The upload path's side of liveness sessions. An object under `<UPLOAD_PREFIX>sessions/` is
 * checked only by the version that moves its session PENDING → CHECKING, and at most once with
 * an upstream call: whatever else reaches the key (a second upload, a redelivery after the call,
 * a key no session has) is recorded REJECTED, or FAILED, without one.
 *
 * @example
 * const examined = await sessions.examine(object, finalReceive, provider, () => examineObject(object));
 * // ... once the outcome is recorded:
 * await sessions.settle(object, status, outcome.envelope, outcome.signature);
 */
export class SessionUploads {
  readonly #store: SessionStore;
  readonly #uploadPrefix: string;

  constructor(options: SessionUploadsOptions) {
    this.#store = options.store;
    this.#uploadPrefix = options.uploadPrefix;
  }

  /**
   * Runs `examine` (read the object, check it) for any object outside the sessions folder, and for
   * a session's object once it has claimed the session. A check that failed transiently after
   * reaching the upstream is FAILED, never retried; one that failed or waited before it gives the
   * claim back for the next receive, except on the last, whose FAILED settles the session.
   */
  async examine(
    object: UploadEventObject,
    finalReceive: boolean,
    provider: Provider,
    examine: () => Promise<Examined>,
  ): Promise<Examined> {
    const session = sessionOfKey(this.#uploadPrefix, object.key);
    if (session === undefined) return examine();
    const refused = (subCode: RelaySubCode, message: string): Examined => ({ status: 'REJECTED', outcome: relayOutcome(subCode, message, provider) });
    if (session.ref === undefined) return refused('NOT_FOUND', 'no liveness session can have this key; it was not checked');

    const image = imageOf(object);
    switch (await this.#store.claim(session.ref, image)) {
      case 'missing':
        return refused('NOT_FOUND', 'no liveness session has this key; it was not checked');
      case 'expired':
        return refused('SESSION_EXPIRED', 'the image arrived after its session had expired; it was not checked');
      case 'used':
        return refused('SESSION_USED', 'the session had already received an image; this one was not checked');
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

  /** Ends the session with the recorded outcome and its signature, if this version is the one that claimed it. */
  async settle(object: UploadEventObject, status: UploadStatus, result: Envelope, signature: string | undefined): Promise<void> {
    const ref = sessionOfKey(this.#uploadPrefix, object.key)?.ref;
    if (ref !== undefined) await this.#store.settle(ref, imageOf(object), status, result, new Date(), signature);
  }
}

const imageOf = (object: UploadEventObject): SessionImage => ({ bucket: object.bucket, key: object.key, version: object.version });
