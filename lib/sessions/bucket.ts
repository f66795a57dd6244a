import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import type { UploadContentType } from './session.ts';

/** A presigned POST: a form the browser sends straight to the bucket, without any credential of its own. */
export interface PresignedUpload {
  url: string;
  fields: Record<string, string>;
  max_bytes: number;
  /** When S3 stops accepting the form (a minute after it was given at most, never after the session's upload window). */
  expires_at: string;
}

export interface PresignOptions {
  key: string;
  contentType: UploadContentType;
  maxBytes: number;
  /** The last moment the form may be used; S3 counts in whole seconds. */
  notAfter: Date;
}

/** The upload bucket as liveness sessions use it: presigned POSTs for one session key at a time, and whether that key has received its image. */
export interface SessionBucket {
  /** A form for exactly `key`, `contentType` and 1..`maxBytes` bytes; undefined when less than a second of the window is left. */
  presign(options: PresignOptions): Promise<PresignedUpload | undefined>;
  /** Whether an object is stored under `key`: an image reached the session even if its check has not begun. */
  holds(key: string): Promise<boolean>;
}

/**
 * The session bucket in S3. `s3` defaults to a client configured by the SDK's environment
 * (`AWS_ENDPOINT_URL_S3`, ...).
 *
 * @example
 * const bucket = new SessionUploadBucket('uploads-bucket');
 * const form = await bucket.presign({ key, contentType: 'image/jpeg', maxBytes, notAfter: session.expiresAt });
 */
export class SessionUploadBucket implements SessionBucket {
  readonly #s3: S3Client;
  readonly #bucket: string;

  constructor(bucket: string, s3: S3Client = new S3Client({})) {
    this.#s3 = s3;
    this.#bucket = bucket;
  }

  /** Signed with the function's own credentials (its role may put objects under the sessions folder only). */
  async presign(options: PresignOptions): Promise<PresignedUpload | undefined> {
    const expiresInSeconds = Math.floor((options.notAfter.getTime() - Date.now()) / 1000);
    if (expiresInSeconds < 1) return undefined;
    const expiresAt = new Date(Date.now() + expiresInSeconds * 1000);
    const { url, fields } = await createPresignedPost(this.#s3, {
      Bucket: this.#bucket,
      Key: options.key,
      // Every field becomes an exact-match condition of the policy: key, bucket and Content-Type.
      Fields: { 'Content-Type': options.contentType },
      Conditions: [['content-length-range', 1, options.maxBytes]],
      Expires: expiresInSeconds,
    });
    return { url, fields, max_bytes: options.maxBytes, expires_at: expiresAt.toISOString() };
  }

  async holds(key: string): Promise<boolean> {
    try {
      await this.#s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return true;
    } catch (error) {
      // With s3:ListBucket on the folder, S3 answers 404 (not 403) for a missing key.
      if ((error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode === 404) return false;
      throw error;
    }
  }
}
