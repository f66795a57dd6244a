import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3Event } from 'aws-lambda';

// s3rver ships no type declarations; these are the calls the tests make.
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  on(event: 'event', listener: (event: S3Event) => void): void;
  httpServer: Server;
}
const S3rver = createRequire(import.meta.url)('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

/** s3rver checks signatures against its one built-in account. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface RunningS3 {
  /** e.g. `http://127.0.0.1:41234`: hand it to clients as `endpoint` or `AWS_ENDPOINT_URL_S3`. */
  endpoint: string;
  /** Calls `listener` with the S3 event of every object stored or removed, as S3 notifications would. */
  onEvent(listener: (event: S3Event) => void): void;
  close(): Promise<void>;
}

export interface S3rverOptions {
  /** Origins whose browsers may POST to the buckets (their CORS configuration); none by default. */
  corsOrigins?: string[];
}

/** A bucket CORS configuration as S3 takes it: browser POSTs from `origins`. */
const corsConfiguration = (origins: string[]): string =>
  `<CORSConfiguration>${origins
    .map((origin) => `<CORSRule><AllowedOrigin>${origin}</AllowedOrigin><AllowedMethod>POST</AllowedMethod><AllowedHeader>content-type</AllowedHeader></CORSRule>`)
    .join('')}</CORSConfiguration>`;

/**
 * An S3-compatible server on a free loopback port, storing objects in a fresh temporary
 * directory that is removed on close; `buckets` exist from the start. It stores any POST upload
 * without reading its policy: put test/support/post-policy.ts in front to have S3's checks.
 */
export async function startS3rver(buckets: string[] = [], options: S3rverOptions = {}): Promise<RunningS3> {
  const directory = mkdtempSync(join(tmpdir(), 's3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name, configs: options.corsOrigins === undefined ? [] : [corsConfiguration(options.corsOrigins)] })),
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    onEvent: (listener) => server.on('event', listener),
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
