import type { DigestErasure } from '../replay/erasure.ts';
import type { ErasureCount } from '../uploads/erasure-marks.ts';
import type { ObjectVersions, StoredVersion } from '../uploads/object-versions.ts';
import { erasedClaim, recordData, type VersionRecords } from '../uploads/version-records.ts';

/** One upload being erased, as the records and the bucket name it when the erasure starts. */
export interface ErasedUpload {
  bucket: string;
  key: string;
  /** The liveness session whose image key this is; undefined for a plain upload. */
  sessionRef: string | undefined;
  /** The versions the bucket holds under the key, images and delete markers. */
  stored: readonly StoredVersion[];
  /** Every version known, as the upload path names them: the bucket's, the result's, the session's, earlier erasures'. */
  versions: readonly string[];
  /** SHA-256 (hex) of the images checked, as the result and the session recorded them. */
  sha256s: readonly string[];
  /**
   * Epoch ms: the uploads erased were stored before it (the bucket was listed after it, a second
   * of clock skew allowed); one stored later under a version of the same name (the same bytes, in
   * a bucket without versioning) is a new upload.
   */
  erasedBefore: number;
}

/**
 * One place where a check leaves something about the person in the image, and how to erase it.
 * The result and the session's record are not among them: the eraser takes them first, the
 * result with the mark that keeps a running check from storing it again
 * (lib/uploads/erasure-marks.ts), the session so that no upload can claim it any more.
 *
 * `erase` must be safe to repeat (a failed erasure is repeated whole), throw when it cannot
 * finish, and return how many items it erased, which the receipt adds to `counts`.
 */
export interface ErasurePlace {
  /** In logs. */
  readonly name: string;
  /** The receipt's count it adds to; undefined for what the receipt does not count. */
  readonly counts: ErasureCount | undefined;
  erase(upload: ErasedUpload): Promise<number>;
}

/**
 * Per version, the records the upload path kept: the outcome Deepvue gave is deleted; the claim
 * becomes "erased" for the uploads stored before the erasure, so that a later delivery of one is
 * answered as a duplicate, without a check and without storing anything.
 */
export function keptAnswers(claims: () => Promise<VersionRecords>, outcomes: () => Promise<VersionRecords>): ErasurePlace {
  return {
    name: 'kept answers',
    counts: undefined,
    erase: async ({ bucket, key, versions, erasedBefore }) => {
      const [claim, outcome] = await Promise.all([claims(), outcomes()]);
      for (const version of versions) {
        const data = recordData({ bucket, key, version });
        await outcome.layer.deleteRecord(data);
        await claim.layer.saveSuccess(data, erasedClaim(erasedBefore));
      }
      return 0;
    },
  };
}

/** Every version of the image in the bucket, delete markers included. */
export function imageVersions(objects: ObjectVersions): ErasurePlace {
  return {
    name: 'image versions',
    counts: 'image_versions',
    erase: ({ bucket, key, stored }) => objects.delete(bucket, key, stored),
  };
}

/**
 * The image's digests (replay detection): every check's of those very bytes, by the SHA-256s the
 * result and the session recorded. Counted as `digests`.
 */
export function replayDigests(digests: DigestErasure): ErasurePlace {
  return {
    name: 'replay digests',
    counts: 'digests',
    erase: ({ sha256s }) => digests.erase(sha256s),
  };
}
