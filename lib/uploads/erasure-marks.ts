import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Table } from '../platform/dynamo.ts';
import { resultKey } from './stored-results.ts';

/** What an erasure's receipt counts: the records (result, session), the image's versions, its digests. */
export type ErasureCount = 'result' | 'image_versions' | 'digests';
export const ERASURE_COUNTS: readonly ErasureCount[] = ['result', 'image_versions', 'digests'];
export type ErasureCounts = Record<ErasureCount, number>;

/**
 * How long the mark of an erasure keeps the versions it erased from being recorded: longer than
 * any check of them can still be running (a Lambda runs 15 minutes at most). Later deliveries of
 * those versions are stopped by their claims, which the erasure leaves as "erased".
 */
const MARK_SECONDS = 3600;

/** An erasure's hold on the mark: only the holder writes it, and a newer holder fences it off. */
export interface ErasureLease {
  pk: string;
  generation: number;
  /** Epoch milliseconds after which another erasure may take over. */
  until: number;
}

/** The item under an upload's result key, as an erasure finds it. */
export interface MarkState {
  exists: boolean;
  /** The result stored there (its TTL passed or not: it is still held until it is erased). */
  result: { version: string; order: string; sha256: string | undefined } | undefined;
  /** An erasure that has started and not finished: its lease's end (in the past for one that failed). */
  leaseUntil: number | undefined;
  generation: number;
  /** What an unfinished erasure has erased so far. */
  counts: ErasureCounts;
  /** Versions whose results must not be stored. */
  erasedVersions: string[];
  /** SHA-256 of the images an unfinished erasure took the records of: what their digests are found by. */
  sha256s: string[];
}

/**
 * What lets a result be written over an erasure's mark (an item without `status` at the result's
 * key, see ErasureMarks below): a mark past its expiry, or one of a finished erasure that did not
 * take this version, or took a version of this name stored before the upload checked (in a bucket
 * without versioning a version is named by its ETag, so the same bytes uploaded again after the
 * erasure share the name: `:storedAt`, epoch ms, tells the new upload from the erased one).
 */
export const MARK_ADMITS_RESULT =
  '(attribute_not_exists(#status) AND (expires_at < :nowSeconds OR (attribute_not_exists(erasing_until) AND (NOT contains(erased_versions, :version) OR erased_before < :storedAt))))';

/** Why a result could not be written over `item`, when an erasure's mark is the reason. */
export function erasureBlocking(item: Record<string, unknown> | undefined, version: string, storedAt: Date | undefined): 'erased' | 'erasing' | undefined {
  if (item === undefined || typeof item.status === 'string') return undefined;
  const newer = typeof item.erased_before === 'number' && storedAt !== undefined && item.erased_before < storedAt.getTime();
  if (erasedVersionsOf(item).includes(version) && !newer) return 'erased';
  return typeof item.erasing_until === 'number' ? 'erasing' : undefined;
}

/** The versions an erasure's mark took. */
export const erasedVersionsOf = (item: Record<string, unknown>): string[] => stringsOf(item.erased_versions);

/** A string set as the document client reads it; empty when absent. */
export const stringsOf = (value: unknown): string[] =>
  value instanceof Set ? [...(value as Set<unknown>)].filter((entry): entry is string => typeof entry === 'string') : [];

const countAttribute = (count: ErasureCount): string => `erased_${count}`;

export interface ErasureMarksOptions {
  client: DynamoDBClient;
  /** RESULTS_TABLE: the mark takes the place of the result it erases. */
  tableName: string;
}

/**
 * The mark an erasure leaves in place of an upload's result, in RESULTS_TABLE under the result's
 * own key (`pk = s3://{bucket}/{key}`), so that the result's conditional write sees it: no
 * `status`; `erasing_until` (epoch ms) and `erased_<count>` while an erasure runs (its lease and
 * its receipt so far, which a repeat after a failure continues); `erasing_sha256` (the SHA-256 of
 * the image whose result it took, until the erasure ends: what its digests are found by);
 * `erased_versions` (a string set: versions whose result must never be stored, for a check still
 * running when they were erased); `erased_before` (epoch ms: the uploads those versions name were
 * stored before it, the last erasure's listing of the bucket, a second of clock skew allowed);
 * `generation` (every erasure's writes are conditional on it); `expires_at` (an hour on, TTL).
 *
 * @example
 * const seen = await marks.read(bucket, key);
 * const lease = await marks.begin(bucket, key, seen, 30_000);
 */
export class ErasureMarks {
  readonly #table: Table;

  constructor(options: ErasureMarksOptions) {
    this.#table = new Table({ client: options.client, tableName: options.tableName, removeUndefinedValues: true });
  }

  async read(bucket: string, key: string): Promise<MarkState> {
    const item = await this.#table.get({ pk: resultKey(bucket, key) });
    const isResult = typeof item?.status === 'string';
    return {
      exists: item !== undefined,
      result: item !== undefined && isResult
        ? { version: String(item.version), order: String(item.event_order), sha256: typeof item.sha256 === 'string' ? item.sha256 : undefined }
        : undefined,
      leaseUntil: !isResult && typeof item?.erasing_until === 'number' ? item.erasing_until : undefined,
      generation: typeof item?.generation === 'number' ? item.generation : 0,
      counts: Object.fromEntries(ERASURE_COUNTS.map((count) => [count, Number(item?.[countAttribute(count)] ?? 0)])) as ErasureCounts,
      erasedVersions: item === undefined ? [] : erasedVersionsOf(item),
      sha256s: item === undefined ? [] : stringsOf(item.erasing_sha256),
    };
  }

  /**
   * Starts an erasure: replaces the item (the result with it, whatever it holds) with a mark
   * holding the lease, the receipt so far, and the result's version among the erased ones.
   * `sha256s`: of images known elsewhere (a session's), kept in the mark with the result's.
   * Undefined when the item changed since `seen` was read (a result written, another erasure).
   */
  async begin(bucket: string, key: string, seen: MarkState, leaseMs: number, sha256s: readonly string[] = []): Promise<ErasureLease | undefined> {
    const pk = resultKey(bucket, key);
    const now = Date.now();
    const lease = { pk, generation: seen.generation + 1, until: now + leaseMs };
    const erased = new Set(seen.erasedVersions);
    if (seen.result !== undefined) erased.add(seen.result.version);
    const images = new Set([...seen.sha256s, ...sha256s]);
    if (seen.result?.sha256 !== undefined) images.add(seen.result.sha256);
    const written = await this.#table.put({
      Item: {
        pk,
        erasing_until: lease.until,
        generation: lease.generation,
        ...Object.fromEntries(ERASURE_COUNTS.map((count) => [countAttribute(count), seen.counts[count] + (count === 'result' && seen.result !== undefined ? 1 : 0)])),
        ...(erased.size === 0 ? {} : { erased_versions: erased }),
        ...(images.size === 0 ? {} : { erasing_sha256: images }),
        expires_at: Math.floor(now / 1000) + MARK_SECONDS,
      },
      ...unchangedSince(seen),
    });
    return written ? lease : undefined;
  }

  /**
   * Adds versions whose result must never be stored, and SHA-256s of the images they held (for
   * their digests); `erasedBefore`: the uploads they name were stored before it.
   */
  async block(lease: ErasureLease, versions: readonly string[], sha256s: readonly string[] = [], erasedBefore?: number): Promise<void> {
    const adds = [...(versions.length === 0 ? [] : ['erased_versions :versions']), ...(sha256s.length === 0 ? [] : ['erasing_sha256 :sha256s'])];
    const set = erasedBefore === undefined ? '' : 'SET erased_before = :before ';
    if (adds.length === 0 && set === '') return;
    await this.#held(lease, `${set}${adds.length === 0 ? '' : `ADD ${adds.join(', ')}`}`, {
      ...(versions.length === 0 ? {} : { ':versions': new Set(versions) }),
      ...(sha256s.length === 0 ? {} : { ':sha256s': new Set(sha256s) }),
      ...(erasedBefore === undefined ? {} : { ':before': erasedBefore }),
    });
  }

  /** Adds `n` to the receipt's `count`. */
  async count(lease: ErasureLease, count: ErasureCount, n: number): Promise<void> {
    await this.#held(lease, `ADD ${countAttribute(count)} :n`, { ':n': n });
  }

  /** Gives the lease up after a failure, the receipt so far kept for the repeat; false when that failed too. */
  async release(lease: ErasureLease): Promise<boolean> {
    try {
      await this.#held(lease, 'SET erasing_until = :ended, generation = :next', { ':ended': 0, ':next': lease.generation + 1 });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Ends the erasure and returns its receipt. The mark stays while it names erased versions (a
   * check of one may still be running); a mark that blocks nothing is deleted.
   */
  async finish(lease: ErasureLease): Promise<ErasureCounts> {
    const before = await this.#held(
      lease,
      `REMOVE erasing_until, erasing_sha256, ${ERASURE_COUNTS.map(countAttribute).join(', ')} SET generation = :next`,
      { ':next': lease.generation + 1 },
      'ALL_OLD',
    );
    const counts = Object.fromEntries(ERASURE_COUNTS.map((count) => [count, Number(before[countAttribute(count)] ?? 0)])) as ErasureCounts;
    if (erasedVersionsOf(before).length === 0) {
      await this.#table.delete({
        Key: { pk: lease.pk },
        ConditionExpression: 'generation = :next AND attribute_not_exists(#status)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':next': lease.generation + 1 },
      });
    }
    return counts;
  }

  /** One write while the lease is this erasure's; throws when it is not any more. */
  async #held(lease: ErasureLease, update: string, values: Record<string, unknown>, returnValues: 'ALL_OLD' | 'NONE' = 'NONE'): Promise<Record<string, unknown>> {
    const attributes = await this.#table.update({
      Key: { pk: lease.pk },
      UpdateExpression: update,
      ConditionExpression: 'generation = :generation AND attribute_not_exists(#status)',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ...values, ':generation': lease.generation },
      ReturnValues: returnValues,
    });
    if (attributes === undefined) throw new Error('the erasure lost its lease: another erasure took over');
    return attributes;
  }
}

/** The condition that the item is still as `seen` found it. */
function unchangedSince(seen: MarkState): { ConditionExpression: string; ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: Record<string, unknown> } {
  if (!seen.exists) return { ConditionExpression: 'attribute_not_exists(pk)' };
  if (seen.result !== undefined) {
    return {
      ConditionExpression: '#version = :version AND event_order = :order',
      ExpressionAttributeNames: { '#version': 'version' },
      ExpressionAttributeValues: { ':version': seen.result.version, ':order': seen.result.order },
    };
  }
  return {
    ConditionExpression: 'attribute_not_exists(#status) AND (generation = :generation OR attribute_not_exists(generation))',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ':generation': seen.generation },
  };
}
