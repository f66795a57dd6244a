import { setTimeout } from 'node:timers/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { firstUse } from '../platform/lazy.ts';
import { sessionKey, sessionOfKey } from '../sessions/session.ts';
import { SessionErasure } from '../sessions/erasure.ts';
import { ErasureMarks, type ErasureCounts, type ErasureLease } from '../uploads/erasure-marks.ts';
import { checkedVersionOf, ObjectVersions } from '../uploads/object-versions.ts';
import { versionRecords } from '../uploads/version-records.ts';
import { DigestErasure } from '../replay/erasure.ts';
import { imageVersions, keptAnswers, replayDigests, type ErasedUpload, type ErasurePlace } from './places.ts';

/** The receipt of an erasure, as the erasure routes answer it. */
export interface ErasureReceipt {
  result: boolean;
  image_versions: number;
  digests: number;
}

export type Erasure =
  | { kind: 'erased'; receipt: ErasureReceipt; erasedAt: Date }
  /** Nothing was held, or another erasure of the same record, run meanwhile, answered for it. */
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
/**
 * How long an erasure waits for another one of the same record to end, polling every
 * LEASE_POLL_MS: an erasure takes well under a second, and the function runs 10 s at most.
 */
const LEASE_WAIT_MS = 3000;
const LEASE_POLL_MS = 100;
/** Begins tried while the record keeps changing under the erasure (results being written). */
const BEGIN_ATTEMPTS = 3;
/** Between S3's clock (when an upload was stored) and this function's. */
const CLOCK_SKEW_MS = 1000;

export interface EraserOptions {
  /** RESULTS_TABLE's client. */
  dynamo: DynamoDBClient;
  s3: S3Client;
  resultsTable: string;
  retentionDays: number;
  bucket: string;
  uploadPrefix: string;
  /** REPLAY_TABLE, when replayed images are compared: the images' digests are erased there too. */
  replayTable?: string | undefined;
}

/**
 * The places a check leaves something about a person, besides the records the eraser takes first,
 * in the order they are erased.
 */
export function erasurePlaces(options: EraserOptions): ErasurePlace[] {
  const records = { client: options.dynamo, tableName: options.resultsTable, retentionDays: options.retentionDays };
  return [
    keptAnswers(firstUse(() => versionRecords('upload-claim', records)), firstUse(() => versionRecords('upload-outcome', records))),
    imageVersions(new ObjectVersions(options.s3)),
    ...(options.replayTable === undefined ? [] : [replayDigests(new DigestErasure({ client: options.dynamo, tableName: options.replayTable }))]),
  ];
}

/**
 * Erases everything the relay holds about one upload (its result, every version of its image,
 * the records its checks kept, its digests) or one liveness session (the same for the session's
 * image key, and the session's record), together:
 *
 * 1. The result's item becomes the erasure's mark (lib/uploads/erasure-marks.ts) in one
 *    conditional write: the result is gone, the erasure holds a lease, and its receipt so far
 *    lives there. A concurrent erasure of the same record finds the lease and waits for it to
 *    end: "not held" once the mark shows it finished, a take-over if it failed, and
 *    ErasureIncomplete (repeat once the lease has lapsed) if it is still running after
 *    LEASE_WAIT_MS. Never "not held" while something may remain.
 * 2. A session's record is deleted, and the image version that claimed it marked erased: from
 *    now on an upload to its key finds no session, and is deleted on arrival unchecked.
 * 3. The bucket's versions of the key are listed, and every version known is marked erased: a
 *    check of one still running finds the mark when it ends, and stores nothing.
 * 4. Each place is erased, its count added to the receipt in the mark.
 * 5. The mark is finished: the receipt read and the lease ended.
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
    this.#places = erasurePlaces(options);
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
      const session = await this.#takeSession(lease, sessionRef);
      // Listed only once no upload can claim the session: a later one is deleted on arrival.
      // What was stored before the listing is in it; what is stored after is a new upload.
      const erasedBefore = Date.now() + CLOCK_SKEW_MS;
      const stored = await this.#objects.list(this.#bucket, key);
      const known = [...upload.versions, ...session.versions, ...stored.flatMap((version) => checkedVersionOf(version) ?? [])];
      const sha256s = [...new Set([...upload.sha256s, ...session.sha256s])];
      const erased: ErasedUpload = { ...upload, stored, versions: [...new Set(known)], sha256s, erasedBefore };
      await this.#marks.block(lease, erased.versions, [], erasedBefore);
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
   * Deletes the session's record, if any, counting it and marking erased the image version that
   * had claimed it (with its SHA-256) before anything else can fail.
   */
  async #takeSession(lease: ErasureLease, sessionRef: string | undefined): Promise<{ versions: string[]; sha256s: string[] }> {
    const taken = sessionRef === undefined ? undefined : await this.#sessions.erase(sessionRef);
    if (taken === undefined) return { versions: [], sha256s: [] };
    const versions = taken.image === undefined ? [] : [taken.image.version];
    const sha256s = typeof taken.image?.sha256 === 'string' ? [taken.image.sha256] : [];
    await this.#marks.block(lease, versions, sha256s);
    await this.#marks.count(lease, 'result', 1);
    return { versions, sha256s };
  }

  /**
   * Takes the record's mark, or finds there is nothing to take: another erasure, run meanwhile,
   * finished it, or a session route names no session (and no erasure of it is left to complete).
   */
  async #begin(
    key: string,
    sessionRef: string | undefined,
    sessionRequired: boolean,
  ): Promise<{ lease: ErasureLease; upload: Omit<ErasedUpload, 'stored' | 'erasedBefore'> } | undefined> {
    const waitUntil = Date.now() + LEASE_WAIT_MS;
    let waited = false;
    const session = await incomplete(() => (sessionRef === undefined ? Promise.resolve(undefined) : this.#sessions.held(sessionRef)));
    for (let conflicts = 0; conflicts < BEGIN_ATTEMPTS; ) {
      const seen = await incomplete(() => this.#marks.read(this.#bucket, key));
      if (seen.leaseUntil !== undefined && seen.leaseUntil > Date.now()) {
        // Another erasure is under way: until it ends, nothing says what is left.
        if (Date.now() + LEASE_POLL_MS > waitUntil) {
          throw new ErasureIncomplete(Math.ceil((seen.leaseUntil - Date.now()) / 1000), new Error('another erasure of this record has not ended'));
        }
        waited = true;
        await setTimeout(LEASE_POLL_MS);
        continue;
      }
      // The erasure waited for has finished (a failed one leaves its lease behind, lapsed, to be taken over): it answered.
      if (waited && seen.leaseUntil === undefined && seen.result === undefined) return undefined;
      if (sessionRequired && session === undefined && seen.leaseUntil === undefined) return undefined;
      const image = session?.image;
      const sessionSha256 = typeof image?.sha256 === 'string' ? [image.sha256] : [];
      const lease = await incomplete(() => this.#marks.begin(this.#bucket, key, seen, LEASE_MS, sessionSha256));
      if (lease === undefined) {
        conflicts += 1;
        continue;
      }
      const versions = [...seen.erasedVersions, ...(seen.result === undefined ? [] : [seen.result.version]), ...(image?.version === undefined ? [] : [image.version])];
      const sha256s = [...seen.sha256s, ...(seen.result?.sha256 === undefined ? [] : [seen.result.sha256]), ...sessionSha256];
      return { lease, upload: { bucket: this.#bucket, key, sessionRef, versions: [...new Set(versions)], sha256s: [...new Set(sha256s)] } };
    }
    throw new ErasureIncomplete(1, new Error('the record kept changing while the erasure began'));
  }
}

/** A read or write of the table before anything was erased, failing as an erasure to repeat. */
async function incomplete<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw new ErasureIncomplete(1, error);
  }
}
