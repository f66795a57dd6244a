import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Table } from '../platform/dynamo.ts';
import { relayEnvelope, type Envelope } from '../platform/envelope.ts';
import type { CheckedImage } from '../sessions/session.ts';

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
  /** The version's place among the key's versions, from eventOrder(): the newest one wins. */
  order: string;
  /** The version was gone when it was read: this never replaces the result recorded for the version itself. */
  gone?: true | undefined;
}

/**
 * How writing a result ended: `superseded`, a newer version of the key has one; `erased`, an
 * erasure took this version (its result must never be stored); `erasing`, an erasure of the key
 * is under way (try again once it has ended).
 */
export type Recorded = 'recorded' | 'superseded' | 'erased' | 'erasing';

/** A result as `GET /v1/liveness-results/{key+}` answers it. */
export interface StoredResult {
  bucket: string;
  key: string;
  /** The object version the result is for, and the SHA-256 of the bytes checked: never another version's. */
  image: CheckedImage;
  status: UploadStatus;
  checked_at: string;
  result: Envelope;
}

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

/**
 * What lets a result be written over an erasure's mark (an item without `status` at the result's
 * key, see lib/uploads/erasure-marks.ts): a mark past its expiry, or one of a finished erasure that
 * did not take this version.
 */
const MARK_ADMITS_RESULT =
  '(attribute_not_exists(#status) AND (expires_at < :nowSeconds OR (attribute_not_exists(erasing_until) AND NOT contains(erased_versions, :version))))';

/** Why a result could not be written over `item`, when an erasure's mark is the reason. */
function erasureBlocking(item: Record<string, unknown> | undefined, version: string): 'erased' | 'erasing' | undefined {
  if (item === undefined || typeof item.status === 'string') return undefined;
  if (erasedVersionsOf(item).includes(version)) return 'erased';
  return typeof item.erasing_until === 'number' ? 'erasing' : undefined;
}

/** The versions an erasure's mark took. */
export const erasedVersionsOf = (item: Record<string, unknown>): string[] => stringsOf(item.erased_versions);

/** A string set as the document client reads it; empty when absent. */
export const stringsOf = (value: unknown): string[] =>
  value instanceof Set ? [...(value as Set<unknown>)].filter((entry): entry is string => typeof entry === 'string') : [];

/** S3's limit on an object key, in bytes of its UTF-8 form. */
export const MAX_S3_KEY_BYTES = 1024;

/** The partition key of a key's result. */
export const resultKey = (bucket: string, key: string): string => `s3://${bucket}/${key}`;

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
 * `result` (the envelope as JSON text), `event_order` and `expires_at` (epoch seconds, DynamoDB's TTL).
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
  readonly #retentionSeconds: number;

  constructor(options: ResultsStoreOptions) {
    this.#table = new Table({ client: options.client, tableName: options.tableName, removeUndefinedValues: true });
    this.#retentionSeconds = options.retentionDays * 24 * 60 * 60;
  }

  /**
   * Stores the result unless a newer version of the key already has one, or an erasure's mark
   * (lib/uploads/erasure-marks.ts) stands in the way. The same version may be stored again (a
   * FAILED result replaced after a redrive), unless it was gone: a late delivery of a deleted
   * image never replaces what its check recorded.
   */
  async record(result: UploadResult): Promise<Recorded> {
    const checkedAtSeconds = Math.floor(result.checkedAt.getTime() / 1000);
    const pk = resultKey(result.bucket, result.key);
    const sameVersion = result.gone === true ? '' : ' OR (#order = :order AND #version = :version)';
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
        event_order: result.order,
        expires_at: checkedAtSeconds + this.#retentionSeconds,
      },
      ConditionExpression: `attribute_not_exists(pk) OR #order < :order${sameVersion} OR ${MARK_ADMITS_RESULT}`,
      // Names, not words: DynamoDB reserves many common words.
      ExpressionAttributeNames: { '#order': 'event_order', '#status': 'status', ...(sameVersion === '' ? {} : { '#version': 'version' }) },
      ExpressionAttributeValues: { ':order': result.order, ':version': result.version, ':nowSeconds': Math.floor(Date.now() / 1000) },
    });
    if (written) return 'recorded';
    return erasureBlocking(await this.#table.get({ pk }), result.version) ?? 'superseded';
  }

  /** The key's newest result, or undefined when there is none (or it has expired but TTL has not removed it yet). */
  async read(bucket: string, key: string): Promise<StoredResult | undefined> {
    const item = await this.#table.get({ pk: resultKey(bucket, key) });
    // An erasure's mark (no status) holds no result.
    if (item === undefined || typeof item.status !== 'string') return undefined;
    if (typeof item.expires_at === 'number' && item.expires_at * 1000 <= Date.now()) return undefined;
    const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
    return {
      bucket: item.bucket as string,
      key: item.key as string,
      image: {
        bucket: item.bucket as string,
        key: item.key as string,
        version: item.version as string,
        version_id: text(item.version_id),
        etag: text(item.etag),
        sha256: text(item.sha256),
      },
      status: item.status as UploadStatus,
      checked_at: item.checked_at as string,
      result: JSON.parse(item.result as string) as Envelope,
    };
  }
}

/**
 * The object key a `{key+}` path parameter names, as API Gateway passes it, still URL-encoded
 * (`%2F` or `/` between segments, `%20` for a space); undefined when no object can have it (not
 * valid URL encoding, empty, or longer than S3 allows).
 */
export function objectKeyOf(encodedKey: string | undefined): string | undefined {
  if (encodedKey === undefined || encodedKey === '') return undefined;
  let key: string;
  try {
    key = decodeURIComponent(encodedKey);
  } catch {
    return undefined;
  }
  return Buffer.byteLength(key, 'utf8') > MAX_S3_KEY_BYTES ? undefined : key;
}

/**
 * The answer of `GET /v1/liveness-results/{key+}`: `encodedKey` is the path parameter as API
 * Gateway passes it, still URL-encoded (`%2F` or `/` between segments, `%20` for a space). A key
 * longer than S3 allows names no upload, so it is answered without reading the table (whose
 * own limit, 2,048 bytes for the whole `pk`, would otherwise turn it into an error).
 */
export async function resultAnswer(
  results: ResultsStore,
  bucket: string,
  encodedKey: string | undefined,
): Promise<{ status: 200; body: StoredResult } | { status: 404; body: Envelope }> {
  const key = objectKeyOf(encodedKey);
  const stored = key === undefined ? undefined : await results.read(bucket, key);
  if (stored === undefined) return { status: 404, body: relayEnvelope('NOT_FOUND', 'no result is stored for this key') };
  return { status: 200, body: stored };
}
