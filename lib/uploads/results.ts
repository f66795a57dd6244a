import type { SeenBefore } from '../replay/store.ts';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Table } from '../platform/dynamo.ts';
import type { Envelope } from '../platform/envelope.ts';
import { erasureBlocking, MARK_ADMITS_RESULT } from './erasure-marks.ts';
import { resultKey, StoredResults, type StoredResult } from './stored-results.ts';

/**
 * COMPLETED: Deepvue judged the image (whatever its verdict). REJECTED: too large or not a
 * JPEG/PNG/WebP, never sent upstream. FAILED: no answer could be had (object gone, or the
 * upstream still failing on the queue's last receive).
 */
export type UploadStatus = 'COMPLETED' | 'REJECTED' | 'FAILED';

/** One version of an uploaded object: what is checked at most once. */
export interface ObjectVersion {
  bucket: string;
  key: string;
  /** The S3 versionId, or the ETag in a bucket without versioning. */
  version: string;
}

export interface UploadResult extends ObjectVersion {
  /** S3's versionId; absent in a bucket without versioning. */
  versionId?: string | undefined;
  eTag?: string | undefined;
  /** SHA-256 of the bytes checked; absent when none were (refused before the check, or gone). */
  sha256?: string | undefined;
  status: UploadStatus;
  checkedAt: Date;
  /** The envelope `POST /v1/liveness-check` answered (or would have answered) for the image. */
  result: Envelope;
  /** The verdict's compact JWS, when the result carries a verdict (lib/evidence/). */
  signature?: string | undefined;
  /** The version's place among the key's versions, from eventOrder(): the newest one wins. */
  order: string;
  /** The image had been checked before, within REPLAY_WINDOW_DAYS: the first check. */
  replay?: SeenBefore | undefined;
  /**
   * When S3 stored the version (its event's time): an erasure's mark blocks only uploads stored
   * before it listed the bucket. Unknown, it is taken for one of them.
   */
  storedAt?: Date | undefined;
  /** The version was gone when it was read: this never replaces the result recorded for the version itself. */
  gone?: true | undefined;
  /** An earlier check of the version recorded its result (and ended its session): neither does this. */
  answered?: true | undefined;
}

/**
 * How writing a result ended: `superseded`, a newer version of the key has one; `erased`, an
 * erasure took this version (its result must never be stored); `erasing`, an erasure of the key
 * is under way (try again once it has ended).
 */
export type Recorded = 'recorded' | 'superseded' | 'erased' | 'erasing';

/** Wide enough for any sequencer S3 sends (they are 16 to 20 digits today). */
const SEQUENCER_WIDTH = 64;

/**
 * Where an event stands among the events of its key. S3 orders them by `sequencer`, hex digits
 * of varying length, to be compared after left-padding; an event without one (not written by
 * S3) is placed by its time. S3 gives every ObjectCreated event a sequencer, so one key never
 * mixes the two kinds.
 */
export function eventOrder(sequencer: string | undefined, eventTime: string | undefined): string {
  if (sequencer !== undefined && /^[0-9a-f]+$/i.test(sequencer)) {
    return `seq:${sequencer.toUpperCase().padStart(SEQUENCER_WIDTH, '0')}`;
  }
  const time = eventTime === undefined ? Number.NaN : Date.parse(eventTime);
  return `time:${new Date(Number.isFinite(time) ? time : Date.now()).toISOString()}`;
}

export interface ResultsStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Items expire this many days after the check, through the table's TTL attribute `expires_at`. */
  retentionDays: number;
}

/**
 * The results of uploaded images in RESULTS_TABLE, one item per object key:
 * `pk = s3://{bucket}/{key}`, `bucket`, `key`, `version`, `version_id` and `etag` (of the version
 * checked), `sha256` (of the bytes checked), `status`, `checked_at` (ISO-8601),
 * `result` (the envelope as JSON text), `signature` (the verdict's JWS, when it has one),
 * `event_order` and `expires_at` (epoch seconds, DynamoDB's TTL).
 *
 * The envelope is kept as text because an upstream envelope is any JSON object: a number beyond
 * 2^53 (a timestamp in nanoseconds, say) or nesting deeper than 32 levels cannot be a DynamoDB
 * map, and a result that cannot be written would be a result lost. The text is what the HTTP
 * route answers for the same envelope.
 *
 * @example
 * const results = new ResultsStore({ client: new DynamoDBClient({}), tableName, retentionDays: 30 });
 * const stored = await results.read('uploads-bucket', 'uploads/selfie.jpg');
 */
export class ResultsStore {
  readonly #table: Table;
  readonly #stored: StoredResults;
  readonly #retentionSeconds: number;

  constructor(options: ResultsStoreOptions) {
    this.#table = new Table({ client: options.client, tableName: options.tableName, removeUndefinedValues: true });
    this.#stored = new StoredResults(options);
    this.#retentionSeconds = options.retentionDays * 24 * 60 * 60;
  }

  /**
   * Stores the result unless a newer version of the key already has one, or an erasure's mark
   * (lib/uploads/erasure-marks.ts) stands in the way. The same version may be stored again (a
   * FAILED result replaced after a redrive), unless it was gone or already answered for: a late
   * delivery of a deleted image, or a redrive of a session's image after its FAILED check, never
   * replaces what its check recorded.
   */
  async record(result: UploadResult): Promise<Recorded> {
    const checkedAtSeconds = Math.floor(result.checkedAt.getTime() / 1000);
    const pk = resultKey(result.bucket, result.key);
    const sameVersion = result.gone === true || result.answered === true ? '' : ' OR (#order = :order AND #version = :version)';
    const written = await this.#table.put({
      Item: {
        pk,
        bucket: result.bucket,
        key: result.key,
        version: result.version,
        version_id: result.versionId,
        etag: result.eTag,
        sha256: result.sha256,
        status: result.status,
        checked_at: result.checkedAt.toISOString(),
        result: JSON.stringify(result.result),
        signature: result.signature,
        event_order: result.order,
        replay: result.replay,
        expires_at: checkedAtSeconds + this.#retentionSeconds,
      },
      ConditionExpression: `attribute_not_exists(pk) OR #order < :order${sameVersion} OR ${MARK_ADMITS_RESULT}`,
      // Names, not words: DynamoDB reserves many common words.
      ExpressionAttributeNames: { '#order': 'event_order', '#status': 'status', ...(sameVersion === '' ? {} : { '#version': 'version' }) },
      ExpressionAttributeValues: { ':order': result.order, ':version': result.version, ':nowSeconds': Math.floor(Date.now() / 1000), ':storedAt': result.storedAt?.getTime() ?? 0 },
    });
    if (written) return 'recorded';
    return erasureBlocking(await this.#table.get({ pk }), result.version, result.storedAt) ?? 'superseded';
  }

  /** The key's newest result, read as GET /v1/liveness-results reads it. */
  async read(bucket: string, key: string): Promise<StoredResult | undefined> {
    return this.#stored.read(bucket, key);
  }
}

