import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { firstUse } from '../platform/lazy.ts';
import { sessionKey, sessionOfKey } from '../sessions/session.ts';
import { SessionErasure } from '../sessions/erasure.ts';
import { ErasureMarks, type ErasureCounts, type ErasureLease } from '../uploads/erasure-marks.ts';
import { checkedVersionOf, ObjectVersions } from '../uploads/object-versions.ts';
import { versionRecords } from '../uploads/version-records.ts';
import { imageVersions, keptAnswers, sessionRecord, type ErasedUpload, type ErasurePlace } from './places.ts';

/** The receipt of an erasure, as the erasure routes answer it. */
export interface ErasureReceipt {
  result: boolean;
  image_versions: number;
  digests: number;
}

export type Erasure =
  | { kind: 'erased'; receipt: ErasureReceipt; erasedAt: Date }
  /** Nothing was held, or another erasure of the same record is under way and answers for it. */
  | { kind: 'not-held' };

/** The erasure could not finish; what it erased is kept in its mark, and a repeat completes it. */
export class ErasureIncomplete extends Error {
  override readonly name = 'ErasureIncomplete';
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number, cause: unknown) {
    super('the erasure could not finish', { cause });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Longer than the erasure function runs: a holder that died is taken over once it has passed. */
const LEASE_MS = 30_000;
/** Begins tried while the record keeps changing under the erasure (results being written). */
const BEGIN_ATTEMPTS = 3;

export interface EraserOptions {
  /** RESULTS_TABLE's client. */
  dynamo: DynamoDBClient;
  s3: S3Client;
  resultsTable: string;
  retentionDays: number;
  bucket: string;
  uploadPrefix: string;
}

/**
 * The places a check leaves something about a person, besides the record the eraser takes first,
 * in the order they are erased. Replay digests join as one more entry (counts `digests`).
 */
export function erasurePlaces(options: EraserOptions, sessions: SessionErasure): ErasurePlace[] {
  const records = { client: options.dynamo, tableName: options.resultsTable, retentionDays: options.retentionDays };
  return [
    sessionRecord(sessions),
    keptAnswers(firstUse(() => versionRecords('upload-claim', records)), firstUse(() => versionRecords('upload-outcome', records))),
    imageVersions(new ObjectVersions(options.s3)),
  ];
}

/**
 * Erases everything the relay holds about one upload (its result, every version of its image,
 * the records its checks kept, its digests) or one liveness session (the same for the session's
 * image key, and the session's record), together:
 *
 * 1. The result's item becomes the erasure's mark (lib/uploads/erasure-marks.ts) in one
 *    conditional write: the result is gone, the erasure holds a lease (a concurrent erasure of the
 *    same record finds it and answers "not held"), and its receipt so far lives there.
 * 2. The bucket's versions of the key are listed, and every version known is marked erased: a
 *    check of one still running finds the mark when it ends, and stores nothing.
 * 3. Each place is erased, its count added to the receipt in the mark.
 * 4. The mark is finished: the receipt read and the lease ended.
 *
 * Any failure releases the lease and throws ErasureIncomplete: the repeat takes the mark over
 * and continues, and its receipt counts what the failed attempt erased too.
 *
 * @example
 * const eraser = new Eraser(options);
 * const erasure = await eraser.eraseUpload('uploads/selfie.jpg');
 */
export class Eraser {
  readonly #marks: ErasureMarks;
  readonly #sessions: SessionErasure;
  readonly #objects: ObjectVersions;
  readonly #places: ErasurePlace[];
  readonly #bucket: string;
  readonly #uploadPrefix: string;

  constructor(options: EraserOptions) {
    this.#marks = new ErasureMarks({ client: options.dynamo, tableName: options.resultsTable });
    this.#sessions = new SessionErasure({ client: options.dynamo, tableName: options.resultsTable });
    this.#objects = new ObjectVersions(options.s3);
    this.#places = erasurePlaces(options, this.#sessions);
    this.#bucket = options.bucket;
    this.#uploadPrefix = options.uploadPrefix;
  }

  /** An upload under UPLOAD_PREFIX; a session's image key erases its session too. */
  eraseUpload(key: string): Promise<Erasure> {
    return this.#erase(key, sessionOfKey(this.#uploadPrefix, key)?.ref, false);
  }

  /** A session, by its ref (the hash of its id): held only while its record is. */
  eraseSession(ref: string): Promise<Erasure> {
    return this.#erase(sessionKey(this.#uploadPrefix, ref), ref, true);
  }

  async #erase(key: string, sessionRef: string | undefined, sessionRequired: boolean): Promise<Erasure> {
    const started = await this.#begin(key, sessionRef, sessionRequired);
    if (started === undefined) return { kind: 'not-held' };
    const { lease, upload } = started;
    let counts: ErasureCounts;
    try {
      const stored = await this.#objects.list(this.#bucket, key);
      const known = [...upload.versions, ...stored.flatMap((version) => checkedVersionOf(version) ?? [])];
      const erased: ErasedUpload = { ...upload, stored, versions: [...new Set(known)] };
      await this.#marks.block(lease, erased.versions);
      for (const place of this.#places) {
        const n = await place.erase(erased);
        if (place.counts !== undefined && n > 0) await this.#marks.count(lease, place.counts, n);
      }
      counts = await this.#marks.finish(lease);
    } catch (error) {
      const released = await this.#marks.release(lease);
      throw new ErasureIncomplete(released ? 1 : Math.max(1, Math.ceil((lease.until - Date.now()) / 1000)), error);
    }
    if (counts.result === 0 && counts.image_versions === 0 && counts.digests === 0) return { kind: 'not-held' };
    return { kind: 'erased', receipt: { result: counts.result > 0, image_versions: counts.image_versions, digests: counts.digests }, erasedAt: new Date() };
  }

  /**
   * Takes the record's mark, or finds there is nothing to take: another erasure holds it, or a
   * session route names no session (and no erasure of it is left to complete).
   */
  async #begin(
    key: string,
    sessionRef: string | undefined,
    sessionRequired: boolean,
  ): Promise<{ lease: ErasureLease; upload: Omit<ErasedUpload, 'stored'> } | undefined> {
    try {
      const session = sessionRef === undefined ? undefined : await this.#sessions.held(sessionRef);
      for (let attempt = 0; attempt < BEGIN_ATTEMPTS; attempt += 1) {
        const seen = await this.#marks.read(this.#bucket, key);
        if (seen.leaseUntil !== undefined && seen.leaseUntil > Date.now()) return undefined;
        if (sessionRequired && session === undefined && seen.leaseUntil === undefined) return undefined;
        const image = session?.image;
        const sessionSha256 = typeof image?.sha256 === 'string' ? [image.sha256] : [];
        const lease = await this.#marks.begin(this.#bucket, key, seen, LEASE_MS, sessionSha256);
        if (lease === undefined) continue;
        const versions = [...seen.erasedVersions, ...(seen.result === undefined ? [] : [seen.result.version]), ...(image?.version === undefined ? [] : [image.version])];
        const sha256s = [...seen.sha256s, ...(seen.result?.sha256 === undefined ? [] : [seen.result.sha256]), ...sessionSha256];
        return { lease, upload: { bucket: this.#bucket, key, sessionRef, versions: [...new Set(versions)], sha256s: [...new Set(sha256s)] } };
      }
    } catch (error) {
      throw new ErasureIncomplete(1, error);
    }
    throw new ErasureIncomplete(1, new Error('the record kept changing while the erasure began'));
  }
}
