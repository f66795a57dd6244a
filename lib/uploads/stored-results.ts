import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Table } from '../platform/dynamo.ts';
import { relayEnvelope, type Envelope } from '../platform/envelope.ts';
import type { CheckedImage } from '../sessions/session.ts';
import type { UploadStatus } from './results.ts';

/** A result as `GET /v1/liveness-results/{key+}` answers it. */
export interface StoredResult {
  bucket: string;
  key: string;
  /** The object version the result is for, and the SHA-256 of the bytes checked: never another version's. */
  image: CheckedImage;
  status: UploadStatus;
  checked_at: string;
  result: Envelope;
  /** The verdict's compact JWS, when `result` carries a verdict (lib/evidence/). */
  signature?: string;
}

/** S3's limit on an object key, in bytes of its UTF-8 form. */
export const MAX_S3_KEY_BYTES = 1024;

/** The partition key of a key's result. */
export const resultKey = (bucket: string, key: string): string => `s3://${bucket}/${key}`;

export interface StoredResultsOptions {
  client: DynamoDBClient;
  tableName: string;
}

/**
 * The results of uploaded images (written by ResultsStore of ./results.ts) as they are read back,
 * and nothing else: a function that only answers results bundles this module, not the writer,
 * so its role may read the results table and never write it (test/deploy/grants.ts).
 *
 * @example
 * const results = new StoredResults({ client: new DynamoDBClient({}), tableName });
 * const stored = await results.read('uploads-bucket', 'uploads/selfie.jpg');
 */
export class StoredResults {
  readonly #table: Table;

  constructor(options: StoredResultsOptions) {
    this.#table = new Table({ client: options.client, tableName: options.tableName });
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
      ...(typeof item.signature === 'string' ? { signature: item.signature } : {}),
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
  results: Pick<StoredResults, 'read'>,
  bucket: string,
  encodedKey: string | undefined,
): Promise<{ status: 200; body: StoredResult } | { status: 404; body: Envelope }> {
  const key = objectKeyOf(encodedKey);
  const stored = key === undefined ? undefined : await results.read(bucket, key);
  if (stored === undefined) return { status: 404, body: relayEnvelope('NOT_FOUND', 'no result is stored for this key') };
  return { status: 200, body: stored };
}
