import { DeleteObjectsCommand, ListObjectVersionsCommand, S3Client, type ObjectIdentifier } from '@aws-sdk/client-s3';

/** One version of an object key as the bucket holds it: an image, or the delete marker that hid one. */
export interface StoredVersion {
  /** S3's versionId; `null` (the text) in a bucket that was never versioned. */
  versionId: string;
  /** Without quotes; none for a delete marker. */
  eTag: string | undefined;
  deleteMarker: boolean;
}

/** The name the upload path gives a version (UploadEventObject.version): its versionId, or else its ETag. */
export const checkedVersionOf = (stored: StoredVersion): string | undefined =>
  stored.versionId !== 'null' ? stored.versionId : stored.eTag;

/** S3 deletes at most 1,000 keys per DeleteObjects. */
const DELETE_BATCH = 1000;
/** What a DeleteObjects error means when the version is already gone. */
const ALREADY_GONE = new Set(['NoSuchKey', 'NoSuchVersion']);

/**
 * Every version of one key in the upload bucket, for an erasure: listed (ListObjectVersions
 * under the key, only the key itself kept), then deleted by versionId, delete markers too, so that
 * nothing of the image is left behind a marker.
 *
 * @example
 * const versions = new ObjectVersions();
 * const stored = await versions.list('selfies', 'uploads/a.jpg');
 * const erased = await versions.delete('selfies', 'uploads/a.jpg', stored);
 */
export class ObjectVersions {
  readonly #s3: S3Client;

  /** `s3` defaults to a client configured by the SDK's environment (`AWS_ENDPOINT_URL_S3`, ...). */
  constructor(s3: S3Client = new S3Client({})) {
    this.#s3 = s3;
  }

  async list(bucket: string, key: string): Promise<StoredVersion[]> {
    const found: StoredVersion[] = [];
    let markers: { KeyMarker?: string; VersionIdMarker?: string } = {};
    for (;;) {
      const page = await this.#s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key, ...markers }));
      for (const version of page.Versions ?? []) {
        if (version.Key === key) found.push({ versionId: version.VersionId ?? 'null', eTag: version.ETag?.replaceAll('"', ''), deleteMarker: false });
      }
      for (const marker of page.DeleteMarkers ?? []) {
        if (marker.Key === key) found.push({ versionId: marker.VersionId ?? 'null', eTag: undefined, deleteMarker: true });
      }
      // Keys sort after their prefix: once the listing has passed the key, no page holds it.
      if (page.IsTruncated !== true || (page.NextKeyMarker !== undefined && page.NextKeyMarker > key)) return found;
      markers = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
    }
  }

  /** Deletes `versions` of the key for good; returns how many of them were images. Throws unless every one is gone. */
  async delete(bucket: string, key: string, versions: readonly StoredVersion[]): Promise<number> {
    for (let start = 0; start < versions.length; start += DELETE_BATCH) {
      const objects: ObjectIdentifier[] = versions.slice(start, start + DELETE_BATCH).map((version) => ({ Key: key, VersionId: version.versionId }));
      const { Errors: errors = [] } = await this.#s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }));
      const failed = errors.filter((error) => !ALREADY_GONE.has(error.Code ?? ''));
      if (failed.length > 0) throw new Error(`S3 did not delete ${failed.length} version(s) of the object: ${failed[0]?.Code ?? 'unknown'}`);
    }
    return versions.filter((version) => !version.deleteMarker).length;
  }
}
