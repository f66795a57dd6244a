import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { JSONValue } from '@aws-lambda-powertools/commons/types';
import type { IdempotencyConfig } from '@aws-lambda-powertools/idempotency';
import type { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import type { ResponseHook } from '@aws-lambda-powertools/idempotency/types';
import { Table } from '../platform/dynamo.ts';
import type { ObjectVersion } from './results.ts';

/**
 * The two Powertools Idempotency records the upload path keeps per object version in
 * RESULTS_TABLE (`pk = <kind>#<hash of bucket, key and version>`): the claim that lets a version
 * be checked once (kept as long as results), and the outcome Deepvue gave, kept until its result
 * is written.
 */
export type VersionRecordKind = 'upload-claim' | 'upload-outcome';

/**
 * What a claim keeps once its version is settled, and a duplicate delivery is answered with: the
 * status only, and for an erased version which uploads of it were erased.
 */
export type Settled = { status: 'COMPLETED' | 'REJECTED' | 'FAILED' } | { status: 'ERASED'; erased_before?: number };

/**
 * The claim an erasure leaves (or a check the erasure stopped): a delivery of an upload of the
 * version stored up to `erasedBefore` (epoch ms) is a duplicate, answered without a check. One
 * stored later is a new upload of the same bytes (a bucket without versioning names a version by
 * its ETag), which takes the claim over and is checked as any other.
 */
export const erasedClaim = (erasedBefore: number): Settled => ({ status: 'ERASED', erased_before: erasedBefore });

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
  const table = new Table({ client: options.client, tableName: options.tableName });
  /** A claim that an erased claim of an earlier upload of the same version name does not hold back (see erasedClaim). */
  class ClaimLayer extends Layer {
    override async saveInProgress(data: JSONValue, remainingTimeInMillis?: number): Promise<void> {
      try {
        await super.saveInProgress(data, remainingTimeInMillis);
      } catch (error) {
        const erased = await this.#erasedClaim(error, data);
        const storedAt = storedAtOf(data);
        if (erased === undefined || storedAt === undefined || storedAt <= erased.before) throw error;
        // Only that erased claim is given up: whoever takes it over first claims the version; any other waits.
        await table.delete({
          Key: { pk: erased.pk },
          ConditionExpression: '#data.#status = :erased AND #data.erased_before = :before',
          ExpressionAttributeNames: { '#data': 'data', '#status': 'status' },
          ExpressionAttributeValues: { ':erased': 'ERASED', ':before': erased.before },
        });
        await super.saveInProgress(data, remainingTimeInMillis);
      }
    }

    /** The claim that stood in the way, when it is an erasure's: its key and which uploads it erased. */
    async #erasedClaim(error: unknown, data: JSONValue): Promise<{ pk: string; before: number } | undefined> {
      if (!(error instanceof Error) || error.name !== 'IdempotencyItemAlreadyExistsError') return undefined;
      // DynamoDB returns the item that failed the condition; a stand-in that does not (dynalite) has it read.
      const record = (error as { existingRecord?: IdempotencyRecord }).existingRecord ?? (await this.getRecord(data).catch(() => undefined));
      const settled = record?.responseData as { status?: unknown; erased_before?: unknown } | undefined;
      if (record === undefined || record.getStatus() !== 'COMPLETED' || settled?.status !== 'ERASED' || typeof settled.erased_before !== 'number') return undefined;
      return { pk: record.idempotencyKey, before: settled.erased_before };
    }
  }
  // Each kind has its own layer: a layer carries one key prefix at a time.
  const layer = new (kind === 'upload-claim' ? ClaimLayer : Layer)({ tableName: options.tableName, keyAttr: 'pk', expiryAttr: 'expires_at', awsSdkV3Client: options.client });
  layer.configure({ config: config(), keyPrefix: kind });
  return { kind, layer, config };
}

/** The data a version's records are keyed on (`[bucket, key, version]`). */
export const recordData = (version: ObjectVersion): Record<keyof ObjectVersion, string> => ({ bucket: version.bucket, key: version.key, version: version.version });

/** When S3 stored the upload a claim is asked for (UploadEventObject.arrivedAt), in epoch ms. */
function storedAtOf(data: JSONValue): number | undefined {
  const arrivedAt: unknown = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>).arrivedAt : undefined;
  return arrivedAt instanceof Date ? arrivedAt.getTime() : undefined;
}
