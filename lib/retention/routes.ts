import { relayEnvelope, type Envelope } from '../platform/envelope.ts';
import { describeError, logger } from '../platform/logger.ts';
import type { RelayMetrics } from '../platform/metrics.ts';
import { isSessionId, sessionKey, sessionRef } from '../sessions/session.ts';
import { objectKeyOf } from '../uploads/stored-results.ts';
import { ErasureIncomplete, type Eraser, type Erasure, type ErasureReceipt } from './eraser.ts';

/** What an erasure route answers: its status, body, and for a 503 when to repeat it. */
export type ErasureAnswer =
  | { status: 200; body: { erased: ErasureReceipt; erased_at: string } }
  | { status: 404; body: Envelope }
  | { status: 503; body: Envelope; retryAfterSeconds: number };

export interface ErasureRoutesOptions {
  eraser: Eraser;
  bucket: string;
  uploadPrefix: string;
  metrics: RelayMetrics;
}

const notHeld = (what: string): ErasureAnswer => ({ status: 404, body: relayEnvelope('NOT_FOUND', `nothing is held for this ${what}`) });

/**
 * `DELETE /v1/liveness-results/{key+}` and `DELETE /v1/liveness-sessions/{id}`: everything held
 * about one upload or one session, erased. Input that can name nothing (a key outside the upload
 * prefix or longer than S3 allows, a malformed session id) is answered 404 without a read. Each
 * erasure writes one log line, its receipt (which record, the counts; never the image, a digest
 * or a session id), and one `Erasures` metric.
 *
 * @example
 * const routes = new ErasureRoutes({ eraser, bucket, uploadPrefix: 'uploads/', metrics });
 * const answer = await routes.eraseResult('uploads%2Fselfie.jpg');
 */
export class ErasureRoutes {
  readonly #eraser: Eraser;
  readonly #bucket: string;
  readonly #uploadPrefix: string;
  readonly #metrics: RelayMetrics;

  constructor(options: ErasureRoutesOptions) {
    this.#eraser = options.eraser;
    this.#bucket = options.bucket;
    this.#uploadPrefix = options.uploadPrefix;
    this.#metrics = options.metrics;
  }

  /** `encodedKey`: the path parameter as API Gateway passes it, still URL-encoded. */
  async eraseResult(encodedKey: string | undefined): Promise<ErasureAnswer> {
    const key = objectKeyOf(encodedKey);
    if (key === undefined || !key.startsWith(this.#uploadPrefix)) return notHeld('key');
    return this.#answer(() => this.#eraser.eraseUpload(key), 'key', { record: 'upload', bucket: this.#bucket, key });
  }

  async eraseSession(id: unknown): Promise<ErasureAnswer> {
    if (!isSessionId(id)) return notHeld('session');
    const ref = sessionRef(id);
    // The session's ref (the table's key), never its id: the id is a credential.
    return this.#answer(() => this.#eraser.eraseSession(ref), 'session', { record: 'session', bucket: this.#bucket, key: sessionKey(this.#uploadPrefix, ref) });
  }

  async #answer(erase: () => Promise<Erasure>, what: string, record: { record: 'upload' | 'session'; bucket: string; key: string }): Promise<ErasureAnswer> {
    let erasure: Erasure;
    try {
      erasure = await erase();
    } catch (error) {
      if (!(error instanceof ErasureIncomplete)) throw error;
      logger.error('erasure incomplete; a repeat completes it', { ...record, error: describeError(error.cause) });
      const message = `the erasure could not finish; what it erased stays erased: repeat the request to complete it`;
      return { status: 503, body: relayEnvelope('ERASURE_INCOMPLETE', message), retryAfterSeconds: error.retryAfterSeconds };
    }
    if (erasure.kind === 'not-held') return notHeld(what);
    const erasedAt = erasure.erasedAt.toISOString();
    logger.info('erased', { ...record, erased: erasure.receipt, erased_at: erasedAt });
    this.#metrics.erased(record.record);
    return { status: 200, body: { erased: erasure.receipt, erased_at: erasedAt } };
  }
}
