import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { S3RVER_CREDENTIALS, startLocalS3, type LocalObjectEvent } from '../../scripts/local/s3.ts';

export { S3RVER_CREDENTIALS };

export interface RunningS3 {
  /** e.g. `http://127.0.0.1:41234`: hand it to clients as `endpoint` or `AWS_ENDPOINT_URL_S3`. */
  endpoint: string;
  /** Calls `listener` for every object stored or removed, as S3's notifications would. */
  onObjectEvent(listener: (event: LocalObjectEvent) => void): void;
  close(): Promise<void>;
}

/**
 * An S3-compatible server on a free loopback port, storing objects in a fresh temporary
 * directory that is removed on close; `buckets` exist from the start. It stores any POST upload
 * without reading its policy: put test/support/post-policy.ts in front to have S3's checks.
 */
export async function startS3rver(buckets: string[] = []): Promise<RunningS3> {
  const s3 = await startLocalS3({ directory: mkdtempSync(join(tmpdir(), 's3rver-')), buckets, removeOnClose: true });
  return { endpoint: s3.endpoint, onObjectEvent: (listener) => s3.onObjectEvent(listener), close: () => s3.close() };
}

/** Client settings for the local server (an IP endpoint makes the SDK use path-style addressing). */
export function localS3Config(endpoint: string): S3ClientConfig {
  return { endpoint, region: 'us-east-1', credentials: S3RVER_CREDENTIALS };
}
