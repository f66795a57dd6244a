import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { IdempotencyAlreadyInProgressError } from '@aws-lambda-powertools/idempotency';
import type { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { ResponseHook } from '@aws-lambda-powertools/idempotency/types';
import type { Context, S3Event, SQSRecord } from 'aws-lambda';
import { checkImage, type CheckDeps, type UpstreamStep } from '../check/check.ts';
import { relayOutcome, type CheckOutcome } from '../check/outcome.ts';
import { recordCheck } from '../check/record.ts';
import type { RelayConfig } from '../container/config.ts';
import { messageOf, verdictOf } from '../platform/envelope.ts';
import { firstUse } from '../platform/lazy.ts';
import { describeError, logger } from '../platform/logger.ts';
import type { RelayMetrics } from '../platform/metrics.ts';
import { sessionOfKey } from '../sessions/session.ts';
import { SessionStore } from '../sessions/store.ts';
import type { CheckCompletedDetail, CompletionPublisher } from './events.ts';
import { versionGone, type Examined } from './examined.ts';
import { MalformedNotification, objectsOf, type UploadEventObject } from './notifications.ts';
import type { S3Objects, UploadedObject } from './objects.ts';
import type { UploadQueue } from './queue.ts';
import { ResultsStore, type Recorded, type UploadStatus } from './results.ts';
import { SessionUploads } from './sessions.ts';
import { erasedClaim, recordData, versionRecords, type Settled } from './version-records.ts';

/** The check of this version must be tried again later: its message goes back to the queue. */
export class RetryUpload extends Error {
  override readonly name = 'RetryUpload';
}

/**
 * The version must wait, without having failed: the plan's rate limit leaves no room now
 * (`limiter`), or its invocation has too little time left to start it (`time`). Its message goes
 * back to the queue for `delayMs` without counting as a failed receive.
 */
export class DeferUpload extends Error {
  override readonly name = 'DeferUpload';
  readonly delayMs: number;
  readonly reason: 'limiter' | 'time';
  /** For `limiter`: the average spacing of the calls the full window admits. */
  readonly paceMs: number;

  constructor(reason: 'limiter' | 'time', delayMs: number, paceMs = 0) {
    super(reason === 'limiter' ? `the plan's rate limit leaves no room for ${delayMs} ms` : 'too little time left in this invocation to start a check');
    this.reason = reason;
    this.delayMs = delayMs;
    this.paceMs = paceMs;
  }
}

/** A transient outcome, thrown out of the kept-outcome record so that Powertools releases it. */
class PassingOutcome extends Error {
  override readonly name = 'PassingOutcome';
  readonly examined: Examined;

  constructor(examined: Examined) {
    super(`${examined.outcome.envelope.sub_code}: ${examined.outcome.envelope.message}`);
    this.examined = examined;
  }
}

export interface UploadCheckerOptions {
  config: RelayConfig;
  /** Built once per container by createCheckDeps with `retry: { maxAttempts: 1 }`: the queue retries. */
  check: Promise<CheckDeps>;
  /** Defaults to a client configured by the SDK's environment (`AWS_ENDPOINT_URL_S3`, ...). */
  s3?: S3Client;
  /** Client of RESULTS_TABLE, which holds the results and the idempotency claims; defaults like `s3`. */
  dynamo?: DynamoDBClient;
  metrics: RelayMetrics;
  /** Unset: no completion events (no bus configured). */
  events?: CompletionPublisher | undefined;
  /** Where waiting images go back to; unset (plain S3 events), a wait is a retry like any other. */
  queue?: UploadQueue | undefined;
}

/**
 * The version's two Powertools Idempotency records (the claim, the kept outcome, and the kept
 * outcomes' store, emptied once a claim answers for its version), and the error of a claim
 * another invocation holds.
 */
type Records = {
  claimed: (object: UploadEventObject, context: Context, finalReceive: boolean) => Promise<Settled>;
  examinedOnce: (object: UploadEventObject, context: Context, finalReceive: boolean) => Promise<Examined>;
  outcomes: DynamoDBPersistenceLayer;
  inProgress: typeof IdempotencyAlreadyInProgressError;
};

/** What one invocation has done so far: images started, and the plan's hold on calls once the limiter said wait. */
type Invocation = { started: number; held?: { until: number; paceMs: number; deferred: number } };

/** Time kept back from the check for recording, tagging and the event. */
const RESERVE_MS = 3000;
/** Outcomes Deepvue gave whose result could not be written yet, kept per container (bounded). */
const MAX_UNRECORDED = 1000;
const REJECTIONS: ReadonlySet<string> = new Set(['UNSUPPORTED_IMAGE_FORMAT', 'PAYLOAD_TOO_LARGE', 'MULTIPLE_FACES', 'FACE_TOO_SMALL', 'REPLAYED_IMAGE']);

/**
 * The upload path: each object version announced by S3 is claimed (Powertools Idempotency on
 * RESULTS_TABLE, one claim per bucket + key + version), read, checked by the same checkImage as
 * the HTTP route, and its result recorded, published and counted; then the image is deleted,
 * unless KEEP_UPLOADS_HOURS keeps it (tagged with its outcome) for the bucket's lifecycle rule.
 *
 * Outcomes: too large or not an image → REJECTED, without an upstream call; 429, 5xx or timeout
 * → RetryUpload (the message returns to the queue), except on the queue's last receive where
 * FAILED is recorded first; the object gone → FAILED at once; anything else → COMPLETED.
 *
 * Never paying twice: the outcome of a check is kept in a second record (`upload-outcome`) as
 * soon as it is known, and in the container's memory, until its result is written; a later
 * receive whose result write failed writes the kept outcome without a new call. Waiting is not
 * failing: an image the plan's rate limit holds back, or one its invocation has no time left to
 * start (a batch starts an image only while a whole check's deadline remains, its first image
 * excepted), goes back to the queue through `queue` without counting as a failed receive.
 *
 * Erased while checked: an erasure's mark at the result's key (lib/uploads/erasure-marks.ts)
 * keeps the result from being written; the check then ends without storing, settling, tagging or
 * announcing anything, and its claim says ERASED.
 */
export class UploadChecker {
  readonly #config: RelayConfig;
  readonly #bucket: string;
  readonly #check: Promise<CheckDeps>;
  readonly #objects: () => Promise<S3Objects>;
  readonly #results: ResultsStore;
  readonly #metrics: RelayMetrics;
  readonly #events: CompletionPublisher | undefined;
  readonly #queue: UploadQueue | undefined;
  readonly #sessions: SessionUploads;
  readonly #records: () => Promise<Records>;
  /** Outcomes whose result is not written yet, by version: they outlive a table too broken to keep them. */
  readonly #unrecorded = new Map<string, Examined>();
  /** Per invocation: images started (all but the first need a whole check's deadline left), and the plan's hold on calls. */
  readonly #invocations = new WeakMap<Context, Invocation>();

  constructor(options: UploadCheckerOptions) {
    const { config } = options;
    const { resultsTable } = config;
    if (resultsTable === undefined || config.uploadBucket === undefined) {
      throw new Error('s3Upload needs RESULTS_TABLE and UPLOAD_BUCKET');
    }
    this.#config = config;
    this.#bucket = config.uploadBucket;
    this.#check = options.check;
    const dynamo = options.dynamo ?? new DynamoDBClient({});
    // The S3 client and Powertools Idempotency are loaded with the first upload, not at start.
    this.#objects = firstUse(async () => new (await import('./objects.ts')).S3Objects(options.s3));
    this.#results = new ResultsStore({ client: dynamo, tableName: resultsTable, retentionDays: config.resultsRetentionDays });
    this.#metrics = options.metrics;
    this.#events = options.events;
    this.#queue = options.queue;
    const sessions = new SessionStore({ client: dynamo, tableName: resultsTable, retentionDays: config.resultsRetentionDays });
    this.#sessions = new SessionUploads({ store: sessions, uploadPrefix: config.uploadPrefix, objects: this.#objects, metrics: this.#metrics });

    // A claim lives as long as the result: a duplicate delivery within the retention makes no
    // second upstream call. A claim IN_PROGRESS expires with the invocation that took it (the
    // Lambda context's remaining time), so a crashed attempt is retried on the next receive.
    // Each record kind has its own persistence layer: a layer carries one key prefix at a time.
    this.#records = firstUse(async () => {
      const options = { client: dynamo, tableName: resultsTable, retentionDays: config.resultsRetentionDays };
      const [{ IdempotencyAlreadyInProgressError: inProgress, makeIdempotent }, claims, outcomes] = await Promise.all([
        import('@aws-lambda-powertools/idempotency'),
        versionRecords('upload-claim', options),
        versionRecords('upload-outcome', options),
      ]);
      const claimed = makeIdempotent(
        (object: UploadEventObject, context: Context, finalReceive: boolean) => this.#checkOnce(object, context, finalReceive),
        {
          persistenceStore: claims.layer,
          config: claims.config((settled) => {
            logger.info('duplicate delivery of an object version already checked; skipped', { settled });
            this.#metrics.paidCallAvoided('duplicate-delivery');
            return settled;
          }),
          keyPrefix: claims.kind,
        },
      );
      // The outcome Deepvue gave, kept until its result is written (a receive whose write failed
      // left it here): replayed without a new call.
      const examinedOnce = makeIdempotent(
        (object: UploadEventObject, context: Context, finalReceive: boolean) => this.#examineToKeep(object, context, finalReceive),
        {
          persistenceStore: outcomes.layer,
          config: outcomes.config((kept) => {
            logger.info('writing the outcome a previous receive was given; no new upstream call');
            return replayedExamined(kept as unknown as Examined) as unknown as ReturnType<ResponseHook>;
          }),
          keyPrefix: outcomes.kind,
        },
      );
      return { claimed, examinedOnce, outcomes: outcomes.layer, inProgress };
    });
  }

  /**
   * Checks the object versions of one SQS message whose body is an S3 notification. Throws when
   * the message must come back (a transient failure, or a malformed message that belongs in the
   * dead-letter queue): the batch processor reports it as a batch item failure.
   */
  async checkSqsRecord(record: SQSRecord, context: Context): Promise<void> {
    let notification: unknown;
    try {
      notification = JSON.parse(record.body);
    } catch {
      throw new MalformedNotification('the message body is not JSON');
    }
    const receiveCount = Number(record.attributes.ApproximateReceiveCount);
    const objects = objectsOf(notification, this.#bucket, this.#config.uploadPrefix);
    try {
      await this.#checkAll(objects, context, receiveCount >= this.#config.uploadMaxReceiveCount);
    } catch (error) {
      if (!(error instanceof DeferUpload)) throw error;
      if (error.reason === 'limiter') this.#metrics.paidCallAvoided('limiter-wait');
      const how = this.#queue === undefined ? 'kept' : await this.#queue.defer(record, error.delayMs);
      logger.info('upload sent back to its queue to wait', { reason: error.reason, delay_ms: error.delayMs, how });
      if (how === 'kept') throw new RetryUpload(error.message);
    }
  }

  /**
   * Checks the object versions of an S3 event delivered without a queue. Without a receive count
   * no attempt is known to be the last: a transient failure throws, and Lambda's asynchronous
   * retries (and the function's failure destination, if any) take over.
   */
  async checkS3Event(event: S3Event, context: Context): Promise<void> {
    try {
      await this.#checkAll(objectsOf(event, this.#bucket, this.#config.uploadPrefix), context, false);
    } catch (error) {
      throw error instanceof DeferUpload ? new RetryUpload(error.message) : error;
    }
  }

  /** One at a time: the plan's rate limit is shared, and one image is held in memory at once. */
  /** A failure of any version fails the message; otherwise a version that must wait defers it, for the longest wait. */
  async #checkAll(objects: UploadEventObject[], context: Context, finalReceive: boolean): Promise<void> {
    let retry: Error | undefined;
    let wait: DeferUpload | undefined;
    for (const object of objects) {
      // Every line logged while checking it, a dependency's warning included, names the version.
      logger.setCorrelationId(correlationId(object));
      try {
        this.#startIn(context);
        await (await this.#records()).claimed(object, context, finalReceive);
        // Settled, now or before (a duplicate delivery): the claim answers for the version.
        await this.#forgetOutcome(object);
      } catch (error) {
        if (error instanceof DeferUpload) {
          if (wait === undefined || error.delayMs > wait.delayMs) wait = error;
          if (error.reason === 'limiter' && this.#invocation(context).held === undefined) {
            this.#invocation(context).held = { until: Date.now() + error.delayMs, paceMs: error.paceMs, deferred: 1 };
          }
          continue;
        }
        logger.warn('upload check to be retried', { error: describeError(error) });
        retry = error instanceof (await this.#records()).inProgress
          ? new RetryUpload('another invocation is checking this version')
          : (error as Error);
      }
    }
    if (retry !== undefined) throw retry;
    if (wait !== undefined) throw wait;
  }

  /**
   * Counts an image started in this invocation, or defers it: after the first, an image starts
   * only while a whole check's deadline (and the time to record it) remains. The first always
   * starts with the time there is, so that a short timeout slows uploads instead of stopping them.
   * Once the plan's limiter has held a call back, the rest of the batch waits without asking it
   * again, each image one call's pace later than the one before: they come back one by one as
   * the window admits calls, not all at once.
   */
  #startIn(context: Context): void {
    const invocation = this.#invocation(context);
    const { held } = invocation;
    if (held !== undefined) {
      const delayMs = Math.max(0, held.until - Date.now()) + held.paceMs * held.deferred;
      held.deferred += 1;
      throw new DeferUpload('limiter', delayMs, held.paceMs);
    }
    if (invocation.started > 0 && context.getRemainingTimeInMillis() < this.#config.upstreamDeadlineMs + RESERVE_MS) {
      throw new DeferUpload('time', 0);
    }
    invocation.started += 1;
  }

  #invocation(context: Context): Invocation {
    let invocation = this.#invocations.get(context);
    if (invocation === undefined) {
      invocation = { started: 0 };
      this.#invocations.set(context, invocation);
    }
    return invocation;
  }

  /** Runs at most once per version while its claim holds; throwing releases the claim. */
  async #checkOnce(object: UploadEventObject, context: Context, finalReceive: boolean): Promise<Settled> {
    const examined = await this.#keptOrExamined(object, context, finalReceive);
    const { outcome } = examined;
    if (examined.status === 'defer') throw new DeferUpload('limiter', outcome.heldBack?.waitMs ?? 0, outcome.heldBack?.paceMs);
    if (examined.status === 'retry') {
      if (finalReceive && (await this.#finish(object, { ...examined, status: 'FAILED' })) !== 'erasing') await this.#used(object, examined);
      // Also on the last receive: the message goes on to the dead-letter queue, and the claim is
      // released so that a redrive checks the version again (if KEEP_UPLOADS_HOURS kept it) and
      // replaces the FAILED result.
      throw new RetryUpload(`${outcome.envelope.sub_code}: ${messageOf(outcome.envelope)}`);
    }
    const recorded = await this.#finish(object, { ...examined, status: examined.status });
    // The outcome stays kept (in memory and its record) for the receive after the erasure.
    if (recorded === 'erasing') throw new RetryUpload('an erasure of this key is under way');
    await this.#used(object, examined);
    this.#unrecorded.delete(correlationId(object));
    return recorded === 'erased' ? erasedClaim(object.arrivedAt.getTime()) : { status: examined.status };
  }

  /**
   * Deletes the image once its result is recorded (that one version, by its versionId: nothing
   * left behind a delete marker), unless KEEP_UPLOADS_HOURS keeps it for the bucket's lifecycle
   * rule, or it is gone already. Best-effort: the lifecycle rule deletes whatever this misses.
   */
  async #used(object: UploadEventObject, examined: Examined): Promise<void> {
    if (this.#config.keepUploadsHours > 0 || examined.gone === true) return;
    try {
      await (await this.#objects()).deleteVersion(object);
    } catch (error) {
      logger.warn('could not delete a checked image; the bucket’s lifecycle rule will', { error: describeError(error) });
    }
  }

  /**
   * Deletes the outcome kept for a version once its claim is settled and answers for it:
   * kept longer, it would only keep a verdict about a person. Best-effort: the table's TTL
   * removes what this misses.
   */
  async #forgetOutcome(object: UploadEventObject): Promise<void> {
    try {
      await (await this.#records()).outcomes.deleteRecord(recordData(object));
    } catch (error) {
      logger.warn('could not delete the outcome kept for a checked image; the table’s TTL will', { error: describeError(error) });
    }
  }

  /**
   * The version's outcome: kept from a receive whose result could not be written (in this
   * container's memory, or in the `upload-outcome` record), or else examined now. A transient
   * outcome is returned, not kept.
   */
  async #keptOrExamined(object: UploadEventObject, context: Context, finalReceive: boolean): Promise<Examined> {
    const kept = this.#unrecorded.get(correlationId(object));
    if (kept !== undefined) {
      logger.info('writing the outcome this container was given before; no new upstream call');
      return replayedExamined(kept);
    }
    try {
      return await (await this.#records()).examinedOnce(object, context, finalReceive);
    } catch (error) {
      if (error instanceof PassingOutcome) return error.examined;
      throw error;
    }
  }

  /** Examines the version and keeps a final outcome in memory before Powertools stores it, so a failing table cannot lose it. */
  async #examineToKeep(object: UploadEventObject, context: Context, finalReceive: boolean): Promise<Examined> {
    const deps = await this.#check;
    // A liveness session's image is examined only by the version that claims the session.
    const examined = await this.#sessions.examine(object, finalReceive, deps.provider, () => this.#examine(object, deps, context));
    if (examined.status === 'retry' || examined.status === 'defer') throw new PassingOutcome(examined);
    if (this.#unrecorded.size >= MAX_UNRECORDED) this.#unrecorded.delete(this.#unrecorded.keys().next().value as string);
    this.#unrecorded.set(correlationId(object), examined);
    return examined;
  }

  /** Reads the object and checks it; every way this ends is an outcome and what it means for the upload. */
  async #examine(object: UploadEventObject, deps: CheckDeps, context: Context): Promise<Examined> {
    const budgetMs = Math.min(this.#config.upstreamDeadlineMs, context.getRemainingTimeInMillis() - RESERVE_MS);
    if (budgetMs <= 0) {
      return { status: 'retry', outcome: relayOutcome('UPSTREAM_TIMEOUT', 'the invocation ran out of time before the check', deps.provider) };
    }
    const deadlineAt = Date.now() + budgetMs;
    let content;
    try {
      content = await (await this.#objects()).read(object, this.#config.maxImageBytes, AbortSignal.timeout(budgetMs));
    } catch (error) {
      // Access denied, throttling, network: passing, or fixable by an operator, so retried.
      logger.error('cannot read the uploaded object', { error: describeError(error) });
      return { status: 'retry', outcome: relayOutcome('INTERNAL_SERVER_ERROR', 'the relay could not read the uploaded object', deps.provider) };
    }
    switch (content.kind) {
      case 'gone':
        // A newer upload of the key has its own event.
        return versionGone(content.reason, deps.provider);
      case 'rejected':
        return { status: 'REJECTED', outcome: relayOutcome(content.problem.subCode, content.problem.message, deps.provider) };
      case 'image': {
        // The digest of the bytes the check judged, as the check computed it, for the result to name.
        let sha256: string | undefined;
        const digested: UpstreamStep = (image, call) => {
          if (image.kind === 'base64') sha256 = image.sha256;
          return call();
        };
        const session = sessionOfKey(this.#config.uploadPrefix, object.key)?.ref;
        const about = session === undefined ? { source: 's3' as const, subject: object.key } : { source: 'session' as const, subject: session };
        const identity = checkIdentity(this.#config.uploadPrefix, object);
        const outcome = await checkImage({ bytes: content.bytes, about, identity }, deps, deadlineAt, digested);
        // The answer's note beside the image's digests: no caller waits on an upload, and the
        // invocation may end (and freeze) once its batch is done.
        await deps.replay?.settled();
        return { status: statusOf(outcome), outcome, ...(sha256 === undefined ? {} : { sha256 }) };
      }
    }
  }

  /**
   * Records the result, then counts it, and announces it (and tags the image KEEP_UPLOADS_HOURS
   * keeps) when it is the key's newest. Only the record can fail the check: tags and events are
   * best-effort. A version an erasure took is counted, and nothing else.
   */
  async #finish(object: UploadEventObject, examined: Examined & { status: UploadStatus }): Promise<Recorded> {
    const { outcome, status } = examined;
    const recorded = await this.#results.record({
      bucket: object.bucket,
      key: object.key,
      version: object.version,
      versionId: object.versionId,
      eTag: object.eTag,
      sha256: examined.sha256,
      status,
      checkedAt: new Date(),
      result: outcome.envelope,
      signature: outcome.signature,
      order: object.order,
      storedAt: object.arrivedAt,
      gone: examined.gone,
      replay: outcome.replay,
      answered: examined.answered,
    });
    if (recorded === 'erasing') return recorded;
    if (recorded !== 'erased') await this.#sessions.settle(object, status, outcome, examined.sha256);
    recordCheck(this.#metrics, 's3', outcome, correlationId(object));
    if (recorded === 'erased') {
      logger.info('the upload was erased while it was checked; its result is not stored');
      // Nor its digests: the erasure could not find them, as no result named the image.
      if (examined.sha256 !== undefined) await (await this.#check).replay?.forget(examined.sha256, checkIdentity(this.#config.uploadPrefix, object));
      return recorded;
    }
    if (recorded === 'superseded') {
      logger.info('the key already has a result of this version or a newer one; this one is neither stored nor announced');
      return recorded;
    }
    const isLive = verdictOf(outcome.envelope);
    const subCode = outcome.envelope.sub_code;
    await Promise.all([
      examined.gone === true || this.#config.keepUploadsHours === 0 ? undefined : this.#tag(object, subCode, isLive),
      this.#publish({ bucket: object.bucket, key: object.key, version: object.version, status, sub_code: subCode, is_live: isLive ?? null }),
    ]);
    return recorded;
  }

  async #tag(object: UploadEventObject, subCode: string, isLive: boolean | undefined): Promise<void> {
    const tags: Record<string, string> = { 'liveness-sub-code': subCode };
    if (isLive !== undefined) tags['liveness-is-live'] = String(isLive);
    try {
      const tagged = await (await this.#objects()).tag(object, tags, isLive === undefined ? ['liveness-is-live'] : []);
      if (!tagged) logger.warn('object not tagged: it already carries the ten tags S3 allows');
    } catch (error) {
      logger.warn('could not tag the uploaded object', { error: describeError(error) });
    }
  }

  async #publish(detail: CheckCompletedDetail): Promise<void> {
    try {
      await this.#events?.publish(detail);
    } catch (error) {
      logger.warn('could not publish the completion event', { error: describeError(error) });
    }
  }
}

/** Ties logs and metrics of one object version together. */
/**
 * Who checks this version, for replay detection: a session's image is its session (every attempt
 * at it is the session's own), any other upload its object version (a redelivery or a retry of
 * the version is not a replay of it).
 */
export function checkIdentity(uploadPrefix: string, object: UploadedObject): string {
  const session = sessionOfKey(uploadPrefix, object.key)?.ref;
  return session === undefined ? `upload\n${correlationId(object)}` : `session\n${session}`;
}

const correlationId = (object: UploadedObject): string => `s3://${object.bucket}/${object.key}#${object.version}`;

/** A kept outcome given again: written without a new upstream call, and counted as such. */
const replayedExamined = (kept: Examined): Examined => ({ ...kept, outcome: { ...kept.outcome, replayed: true } });

/**
 * What a check's outcome means for the upload: REJECTED when the relay refused the image without
 * an upstream call; `defer` when the plan's rate limiter held the call back; 429 and every 5xx
 * (timeouts, unavailability, refused credentials, malformed answers) are no verdict and worth
 * another try; anything else is Deepvue's answer (or the pre-screen's FACE_NOT_DETECTED, given as
 * Deepvue gives it).
 */
function statusOf(outcome: CheckOutcome): Examined['status'] {
  if (REJECTIONS.has(outcome.envelope.sub_code) && outcome.upstream.attempts === 0) return 'REJECTED';
  if (outcome.heldBack !== undefined) return 'defer';
  if (outcome.status === 429 || outcome.status >= 500) return 'retry';
  return 'COMPLETED';
}
