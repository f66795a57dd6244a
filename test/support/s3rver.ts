import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3ClientConfig } from '@aws-sdk/client-s3';

// s3rver ships no type declarations; these are the calls the tests make.
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer: Server;
}
const S3rver = createRequire(import.meta.url)('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

/** s3rver checks signatures against its one built-in account. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface RunningS3 {
  /** e.g. `http://127.0.0.1:41234`: hand it to clients as `endpoint` or `AWS_ENDPOINT_URL_S3`. */
  endpoint: string;
  close(): Promise<void>;
}

/**
 * An S3-compatible server on a free loopback port, storing objects in a fresh temporary
 * directory that is removed on close; `buckets` exist from the start.
 */
export async function startS3rver(buckets: string[] = []): Promise<RunningS3> {
  const directory = mkdtempSync(join(tmpdir(), 's3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      // SDK clients keep connections alive; without this, close waits for them.
      server.httpServer.closeAllConnections();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** Client settings for the local server (an IP endpoint makes the SDK use path-style addressing). */
export function localS3Config(endpoint: string): S3ClientConfig {
  return { endpoint, region: 'us-east-1', credentials: S3RVER_CREDENTIALS };
}
