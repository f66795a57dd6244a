import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { IdempotencyConfig } from '@aws-lambda-powertools/idempotency';
import type { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { ResponseHook } from '@aws-lambda-powertools/idempotency/types';
import type { ObjectVersion } from './results.ts';

/**
 * The two Powertools Idempotency records the upload path keeps per object version in
 * RESULTS_TABLE (`pk = <kind>#<hash of bucket, key and version>`): the claim that lets a version
 * be checked once (kept as long as results), and the outcome Deepvue gave, kept until its result
 * is written.
 */
export type VersionRecordKind = 'upload-claim' | 'upload-outcome';

/** What a claim keeps once its version is settled, and a duplicate delivery is answered with: the status only. */
export type Settled = { status: 'COMPLETED' | 'REJECTED' | 'FAILED' | 'ERASED' };

/** The claim an erasure leaves: every later delivery of the version is a duplicate, answered without a check. */
export const ERASED: Settled = { status: 'ERASED' };

export interface VersionRecordsOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Records expire with the results (RESULTS_RETENTION_DAYS). */
  retentionDays: number;
}

/** A kind of version record: its persistence layer, and the configuration that keys it, for makeIdempotent. */
export interface VersionRecords {
  kind: VersionRecordKind;
  layer: DynamoDBPersistenceLayer;
  config: (responseHook?: ResponseHook) => IdempotencyConfig;
}

/**
 * The persistence layer of `kind`, configured exactly as the upload path keys its records, so
 * that the erasure finds the records the checks wrote. Loads Powertools Idempotency on first use.
 */
export async function versionRecords(kind: VersionRecordKind, options: VersionRecordsOptions): Promise<VersionRecords> {
  const [{ IdempotencyConfig: Config }, { DynamoDBPersistenceLayer: Layer }] = await Promise.all([
    import('@aws-lambda-powertools/idempotency'),
    import('@aws-lambda-powertools/idempotency/dynamodb'),
  ]);
  const config = (responseHook?: ResponseHook) => new Config({
    eventKeyJmesPath: '[bucket, key, version]',
    expiresAfterSeconds: options.retentionDays * 24 * 60 * 60,
    ...(responseHook === undefined ? {} : { responseHook }),
  });
  // Each kind has its own layer: a layer carries one key prefix at a time.
  const layer = new Layer({ tableName: options.tableName, keyAttr: 'pk', expiryAttr: 'expires_at', awsSdkV3Client: options.client });
  layer.configure({ config: config(), keyPrefix: kind });
  return { kind, layer, config };
}

/** The data a version's records are keyed on (`[bucket, key, version]`). */
export const recordData = (version: ObjectVersion): Record<keyof ObjectVersion, string> => ({ bucket: version.bucket, key: version.key, version: version.version });
