import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { hashedKey, Table } from '../platform/dynamo.ts';
import { describeError } from '../platform/logger.ts';
import { RateStoreUnavailable, type RateStore, type StoredLimiterState } from './store.ts';

const limiterItemKey = (subject: string): string => hashedKey('rate', subject);

/** Items outlive their last grant by this much, then DynamoDB's TTL removes them; reads never rely on it. */
const TTL_AFTER_LAST_GRANT_S = 2 * 24 * 60 * 60;

/**
 * The limiter's state in the token table (partition key `pk`, string), one item per Deepvue key
 * beside its token item: `pk = rate#<sha256(subject)>`, `grants` (epoch milliseconds of the
 * recent calls, ascending), `version`, `api_waiting_until` and `expires_at` (TTL, epoch seconds).
 * One item holds every window, so one conditional write takes a call in all of them at once; a
 * plan allows at most 17 calls a second, far below what one item can take.
 *
 * @example
 * const store = new DynamoRateStore({ client: createTokenTableClient(), tableName: process.env.TOKEN_TABLE! });
 */
export class DynamoRateStore implements RateStore {
  readonly #table: Table;

  constructor(options: { client: DynamoDBClient; tableName: string }) {
    this.#table = new Table(options);
  }

  async read(subject: string): Promise<StoredLimiterState> {
    try {
      return parseState(await this.#table.get({ pk: limiterItemKey(subject) }));
    } catch (error) {
      throw unavailable(error);
    }
  }

  async commit(subject: string, version: number, grants: number[]): Promise<boolean> {
    const last = grants.at(-1) ?? Date.now();
    return this.#update({
      Key: { pk: limiterItemKey(subject) },
      UpdateExpression: 'SET grants = :grants, version = :next, expires_at = :ttl',
      // Absent `version`: nobody has committed yet (the item is missing, or holds only a waiting API check).
      ConditionExpression: version === 0 ? 'attribute_not_exists(version)' : 'version = :version',
      ExpressionAttributeValues: {
        ':grants': grants,
        ':next': version + 1,
        ':ttl': Math.ceil(last / 1000) + TTL_AFTER_LAST_GRANT_S,
        ...(version === 0 ? {} : { ':version': version }),
      },
    });
  }

  async announceApiWait(subject: string, until: number): Promise<void> {
    await this.#update({
      Key: { pk: limiterItemKey(subject) },
      UpdateExpression: 'SET api_waiting_until = :until, expires_at = if_not_exists(expires_at, :ttl)',
      ConditionExpression: 'attribute_not_exists(api_waiting_until) OR api_waiting_until < :until',
      ExpressionAttributeValues: { ':until': until, ':ttl': Math.ceil(until / 1000) + TTL_AFTER_LAST_GRANT_S },
    });
  }

  async clearApiWait(subject: string, until: number): Promise<void> {
    await this.#update({
      Key: { pk: limiterItemKey(subject) },
      UpdateExpression: 'REMOVE api_waiting_until',
      ConditionExpression: 'api_waiting_until = :until',
      ExpressionAttributeValues: { ':until': until },
    });
  }

  /** A conditional update: false when its condition did not hold. */
  async #update(input: Omit<UpdateCommandInput, 'TableName'>): Promise<boolean> {
    try {
      return (await this.#table.update(input)) !== undefined;
    } catch (error) {
      throw unavailable(error);
    }
  }
}

function unavailable(error: unknown): RateStoreUnavailable {
  return new RateStoreUnavailable(`rate limiter table: ${describeError(error)}`, { cause: error });
}

/** The item as the store wrote it; anything malformed counts as no grants (the next commit replaces it). */
function parseState(item: Record<string, unknown> | undefined): StoredLimiterState {
  const grants = Array.isArray(item?.grants) ? item.grants.filter((grant): grant is number => typeof grant === 'number') : [];
  return {
    grants: grants.sort((a, b) => a - b),
    version: typeof item?.version === 'number' ? item.version : 0,
    apiWaitingUntil: typeof item?.api_waiting_until === 'number' ? item.api_waiting_until : 0,
  };
}
