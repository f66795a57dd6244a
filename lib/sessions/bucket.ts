import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';

/** The formats a session's upload may declare; the bytes are checked again when the image is read. */
export const UPLOAD_CONTENT_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;
export type UploadContentType = (typeof UPLOAD_CONTENT_TYPES)[number];

/** A presigned POST: a form the browser sends straight to the bucket, without any credential of its own. */
export interface PresignedUpload {
  url: string;
  fields: Record<string, string>;
  max_bytes: number;
  /** When S3 stops accepting the form (never after the session's upload window). */
  expires_at: string;
}

export interface PresignOptions {
  key: string;
  contentType: UploadContentType;
  maxBytes: number;
  /** The last moment the form may be used; S3 counts in whole seconds. */
  notAfter: Date;
}

/**
 * The upload bucket as liveness sessions use it: presigned POSTs for one session key at a time,
 * and whether that key has received its image.
 *
 * @example
 * const bucket = new SessionUploadBucket(new S3Client({}), 'uploads-bucket');
 * const form = await bucket.presign({ key, contentType: 'image/jpeg', maxBytes, notAfter: session.expiresAt });
 */
export class SessionUploadBucket {
  readonly #s3: S3Client;
  readonly #bucket: string;

  constructor(s3: S3Client, bucket: string) {
    this.#s3 = s3;
    this.#bucket = bucket;
  }

  /**
   * A form for exactly `key`, `contentType` and 1..`maxBytes` bytes, signed with the function's
   * own credentials (its role may put objects under the sessions folder only). Undefined when
   * less than a second of the window is left.
   */
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

  /** Whether an object is stored under `key`: an image reached the session even if its check has not begun. */
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

/**
 * The origin the browser posts a session's form to, for the capture page's Content-Security-Policy:
 * the SDK's endpoint override when set (local runs), else the bucket's virtual-hosted S3 endpoint,
 * or the regional one for names with dots (as the SDK chooses; a test holds the two together).
 */
export function uploadOrigin(bucket: string, region: string, env: Record<string, string | undefined> = process.env): string {
  const override = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  if (override !== undefined && override !== '') return new URL(override).origin;
  return bucket.includes('.') ? `https://s3.${region}.amazonaws.com` : `https://${bucket}.s3.${region}.amazonaws.com`;
}
