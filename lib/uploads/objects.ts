import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  type GetObjectCommandOutput,
  type Tag,
} from '@aws-sdk/client-s3';
import { imageTooLarge, sniffFormat, SNIFF_BYTES, unsupportedImage, type ImageProblem } from '../check/image.ts';
import type { ObjectVersion } from './results.ts';

/** An object version as its S3 event names it. */
export interface UploadedObject extends ObjectVersion {
  /** Set in versioned buckets; otherwise `version` is the ETag. */
  versionId: string | undefined;
  eTag: string | undefined;
}

/** What reading an uploaded object found. */
export type ObjectContent =
  | { kind: 'image'; bytes: Uint8Array }
  /** Too large or not a JPEG/PNG/WebP, found out before the object was read whole. */
  | { kind: 'rejected'; problem: ImageProblem }
  /** The version no longer exists (deleted, or replaced in a bucket without versioning). */
  | { kind: 'gone'; reason: string };

/** What S3 says of an object version without reading it. */
export type ObjectHead =
  /** `contentType` as it was stored (a form upload's `Content-Type` field). */
  | { kind: 'stored'; size: number; contentType: string | undefined }
  | { kind: 'gone'; reason: string };

/** S3 keeps at most ten tags on an object. */
const MAX_TAGS = 10;

/**
 * The upload bucket as the upload path uses it, one object version at a time, always the version
 * its event named: reads it once, into one buffer, after checking its size and first bytes;
 * tells its size and type; tags it with its outcome; deletes it.
 *
 * @example
 * const objects = new S3Objects();
 * const content = await objects.read(object, 4 * 1024 * 1024, AbortSignal.timeout(10_000));
 */
export class S3Objects {
  readonly #s3: S3Client;

  /** `s3` defaults to a client configured by the SDK's environment (`AWS_ENDPOINT_URL_S3`, ...). */
  constructor(s3: S3Client = new S3Client({})) {
    this.#s3 = s3;
  }

  /**
   * One ranged GET of at most `maxBytes + 1` bytes: its Content-Range gives the object's size
   * before any byte is read, and the format is sniffed from the first bytes before the rest
   * arrives. The bytes land in one buffer of the object's size, never copied again. The read is
   * pinned to the version the event named (see #pinned): the bytes checked are that version's,
   * never a newer upload's under its name. Throws on any other S3 failure (access denied,
   * throttling, network).
   */
  async read(object: UploadedObject, maxBytes: number, signal: AbortSignal): Promise<ObjectContent> {
    let response: GetObjectCommandOutput;
    try {
      response = await this.#s3.send(new GetObjectCommand({ ...this.#pinned(object), Range: `bytes=0-${maxBytes}` }), { abortSignal: signal });
    } catch (error) {
      const status = httpStatusOf(error);
      if (status === 404 || status === 412) return { kind: 'gone', reason: errorName(error) };
      // S3 answers a range on an empty object with 416.
      if (status === 416) return { kind: 'rejected', problem: unsupportedImage() };
      throw error;
    }
    if (replaced(object, response.ETag)) {
      (response.Body as Readable | undefined)?.destroy();
      return { kind: 'gone', reason: 'replaced' };
    }

    const body = response.Body as (Readable & AsyncIterable<Uint8Array>) | undefined;
    const size = objectSize(response);
    if (size > maxBytes || size === 0) {
      body?.destroy();
      return { kind: 'rejected', problem: size === 0 ? unsupportedImage() : imageTooLarge(size, maxBytes) };
    }
    const bytes = Buffer.allocUnsafe(size);
    let filled = 0;
    let sniffed = false;
    const isImage = async () => (await sniffFormat(bytes.subarray(0, Math.min(filled, SNIFF_BYTES)))) !== undefined;
    for await (const chunk of body ?? []) {
      if (filled + chunk.byteLength > size) {
        body?.destroy();
        throw new Error(`S3 sent more than the ${size} bytes it announced`);
      }
      bytes.set(chunk, filled);
      filled += chunk.byteLength;
      if (!sniffed && filled >= SNIFF_BYTES) {
        sniffed = true;
        if (!(await isImage())) {
          body?.destroy();
          return { kind: 'rejected', problem: unsupportedImage() };
        }
      }
    }
    if (filled !== size) throw new Error(`S3 sent ${filled} of the ${size} bytes it announced`);
    if (!sniffed && !(await isImage())) return { kind: 'rejected', problem: unsupportedImage() };
    return { kind: 'image', bytes };
  }

  /**
   * Sets `tags` on the object version and removes `drop`, keeping every other tag: uploaders
   * tag objects too (owner, case id) and PutObjectTagging replaces the whole set. When the
   * result would exceed S3's ten tags, nothing is changed and false is returned.
   */
  async tag(object: UploadedObject, tags: Record<string, string>, drop: readonly string[] = []): Promise<boolean> {
    const target = { ...this.#version(object) };
    const { TagSet: current = [] } = await this.#s3.send(new GetObjectTaggingCommand(target));
    const ours = new Set([...Object.keys(tags), ...drop]);
    const tagSet: Tag[] = [
      ...current.filter((tag) => tag.Key === undefined || !ours.has(tag.Key)),
      ...Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    ];
    if (tagSet.length > MAX_TAGS) return false;
    await this.#s3.send(new PutObjectTaggingCommand({ ...target, Tagging: { TagSet: tagSet } }));
    return true;
  }

  /** The version's size and stored content type (a HEAD pinned as `read` is), or that it is gone. */
  async head(object: UploadedObject): Promise<ObjectHead> {
    try {
      const response = await this.#s3.send(new HeadObjectCommand(this.#pinned(object)));
      if (replaced(object, response.ETag)) return { kind: 'gone', reason: 'replaced' };
      const size = response.ContentLength;
      if (size === undefined) throw new Error('S3 did not say how large the object is');
      return { kind: 'stored', size, contentType: response.ContentType };
    } catch (error) {
      const status = httpStatusOf(error);
      if (status === 404 || status === 412) return { kind: 'gone', reason: errorName(error) };
      throw error;
    }
  }

  /**
   * Deletes exactly this version: by its versionId in a versioned bucket (for good, no delete
   * marker; the key's previous version, if any, becomes current again), or else only while the
   * key still holds this ETag (a newer upload under the key is left to its own event). A version
   * already gone is not an error. Throws on any other S3 failure.
   */
  async deleteVersion(object: UploadedObject): Promise<void> {
    const pinned = object.versionId === undefined && object.eTag !== undefined ? { IfMatch: `"${object.eTag}"` } : {};
    try {
      await this.#s3.send(new DeleteObjectCommand({ ...this.#version(object), ...pinned }));
    } catch (error) {
      const status = httpStatusOf(error);
      if (status !== 404 && status !== 412) throw error;
    }
  }

  /**
   * A request for exactly the version the event named: by versionId where the bucket is
   * versioned, and by ETag always (If-Match, and the answer's ETag compared, for S3-compatible
   * stores that ignore If-Match).
   */
  #pinned(object: UploadedObject): { Bucket: string; Key: string; VersionId?: string; IfMatch?: string } {
    return { ...this.#version(object), ...(object.eTag === undefined ? {} : { IfMatch: `"${object.eTag}"` }) };
  }

  #version(object: UploadedObject): { Bucket: string; Key: string; VersionId?: string } {
    return { Bucket: object.bucket, Key: object.key, ...(object.versionId === undefined ? {} : { VersionId: object.versionId }) };
  }
}

/** Whether S3 answered for another object than the version named (its ETag differs). */
function replaced(object: UploadedObject, eTag: string | undefined): boolean {
  return object.eTag !== undefined && eTag !== undefined && eTag.replaceAll('"', '') !== object.eTag.replaceAll('"', '');
}

/** The whole object's size: from Content-Range (`bytes 0-99/1234`) of a ranged answer, else its length. */
function objectSize(response: GetObjectCommandOutput): number {
  const total = response.ContentRange === undefined ? undefined : /\/(\d+)$/.exec(response.ContentRange)?.[1];
  const size = total === undefined ? response.ContentLength : Number(total);
  if (size === undefined || !Number.isSafeInteger(size) || size < 0) throw new Error('S3 did not say how large the object is');
  return size;
}

function httpStatusOf(error: unknown): number | undefined {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown';
}
