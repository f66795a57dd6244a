import { rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { PutBucketCorsCommand, S3Client, type CORSConfiguration } from '@aws-sdk/client-s3';
import type { BucketCors } from './service.ts';

/**
 * An S3-compatible server on 127.0.0.1 (s3rver), for `npm start`, `npm run upload` and the tests:
 * buckets created at start, object events reported as S3 records, CORS for browser uploads.
 */

/** The key pair of s3rver's one built-in account, which local runs sign with when nothing they reach is in AWS. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** An object stored or removed, as s3rver reports it (the key as stored, not form-encoded). */
export interface LocalObjectEvent {
  /** e.g. `ObjectCreated:Put`, `ObjectCreated:Post` (a browser's form upload), `ObjectRemoved:Delete` */
  eventName: string;
  bucket: string;
  key: string;
  size: number;
  eTag: string;
  sequencer: string;
  /** When s3rver stored it (its event's `eventTime`). */
  storedAt: Date;
}

export interface LocalS3 {
  /** e.g. `http://127.0.0.1:41234`: hand it to clients as `endpoint` or `AWS_ENDPOINT_URL_S3`. */
  endpoint: string;
  onObjectEvent(listener: (event: LocalObjectEvent) => void): void;
  close(): Promise<void>;
}

// s3rver ships no type declarations; these are the members used here.
interface S3rverRecord {
  eventName?: unknown;
  eventTime?: unknown;
  s3?: { bucket?: { name?: unknown }; object?: { key?: unknown; size?: unknown; eTag?: unknown; sequencer?: unknown } };
}
interface S3rverObject {
  key: string;
  size: number;
  lastModifiedDate: Date;
  metadata: { etag?: string };
}
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  body: unknown;
}
type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  on(event: 'event', listener: (event: { Records?: S3rverRecord[] }) => void): void;
  httpServer: Server;
  /** Koa's middleware stack: the last entry is s3rver's router. */
  middleware: Middleware[];
  store: { listObjects(bucket: string, options: { prefix: string }): Promise<{ objects: S3rverObject[] }> };
}
const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

/**
 * s3rver looks up the access key of a request in its accounts and refuses one it does not know,
 * but never checks a Signature V4 (the only kind the SDK sends). Every key is taken as its one
 * account's, as dynalite takes any: local runs then work with whatever credentials the shell
 * holds, temporary ones that rotate included, as the relay's handlers sign with them when
 * something else they reach is in AWS (scripts/local/credentials.ts).
 */
const accounts = require('s3rver/lib/models/account') as { registry: Map<string, unknown>; DUMMY_ACCOUNT: unknown };
accounts.registry.get = (accessKeyId: string) => Map.prototype.get.call(accounts.registry, accessKeyId) ?? accounts.DUMMY_ACCOUNT;

/**
 * The local bucket's CORS rules: serverless.yml's rules for the deployed bucket (its methods, headers
 * and max age), with `origins` (npm start's own) in place of the deployed API's origin, so that a
 * browser upload that works under npm start works deployed too.
 */
function localBucketCors(rules: BucketCors[], origins: string[]): CORSConfiguration {
  return {
    CORSRules: rules.map((rule) => ({
      AllowedOrigins: origins,
      AllowedMethods: rule.methods,
      AllowedHeaders: rule.headers,
      ...(rule.maxAgeSeconds === undefined ? {} : { MaxAgeSeconds: rule.maxAgeSeconds }),
    })),
  };
}

/** Sets `localBucketCors(rules, origins)` on `bucket` through the S3 API, as a deployment sets its bucket's CORS. */
export async function allowBrowserUploads(endpoint: string, bucket: string, rules: BucketCors[], origins: string[]): Promise<void> {
  if (rules.length === 0) return;
  const client = new S3Client({ endpoint, region: 'us-east-1', credentials: S3RVER_CREDENTIALS, forcePathStyle: true });
  try {
    await client.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: localBucketCors(rules, origins) }));
  } finally {
    client.destroy();
  }
}

/**
 * Starts s3rver on a free loopback port, storing objects in `directory` (removed on close when
 * `removeOnClose`), with `buckets` created.
 */
export async function startLocalS3(options: { directory: string; buckets: string[]; removeOnClose?: boolean }): Promise<LocalS3> {
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: options.directory,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  // Ahead of the router, which answers it 405: objects of a bucket that was never versioned.
  server.middleware.splice(server.middleware.length - 1, 0, listObjectVersions(server));
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    onObjectEvent: (listener) => {
      server.on('event', ({ Records = [] }) => {
        for (const { eventName, eventTime, s3 } of Records) {
          const object = s3?.object ?? {};
          const storedAt = typeof eventTime === 'string' ? new Date(eventTime) : new Date();
          listener({
            eventName: String(eventName),
            bucket: String(s3?.bucket?.name),
            key: String(object.key),
            size: Number(object.size ?? 0),
            eTag: String(object.eTag ?? ''),
            sequencer: String(object.sequencer ?? ''),
            storedAt: Number.isNaN(storedAt.getTime()) ? new Date() : storedAt,
          });
        }
      });
    },
    close: async () => {
      // SDK clients keep connections alive; without this, close waits for them.
      server.httpServer.closeAllConnections();
      await server.close();
      if (options.removeOnClose === true) rmSync(options.directory, { recursive: true, force: true });
    },
  };
}

/**
 * ListObjectVersions (`GET /<bucket>?versions`), which s3rver lacks, answered as S3 answers it for
 * a bucket that was never versioned: each object is its one version, `null`, and the latest.
 * Path-style requests only, one page (the local buckets are small).
 */
function listObjectVersions(server: S3rverInstance): Middleware {
  return async (ctx, next) => {
    const bucket = /^\/([^/]+)\/?$/.exec(ctx.path)?.[1];
    if (ctx.method !== 'GET' || bucket === undefined || !('versions' in ctx.query)) return next();
    const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
    const { objects } = await server.store.listObjects(bucket, { prefix });
    ctx.body = {
      ListVersionsResult: {
        '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
        Name: bucket,
        Prefix: prefix,
        MaxKeys: 1000,
        IsTruncated: false,
        Version: objects.map((object) => ({
          Key: object.key,
          VersionId: 'null',
          IsLatest: true,
          LastModified: object.lastModifiedDate.toISOString(),
          ETag: object.metadata.etag ?? '',
          Size: object.size,
          StorageClass: 'STANDARD',
        })),
      },
    };
  };
}
