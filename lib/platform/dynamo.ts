import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DeleteCommandInput,
  type PutCommandInput,
  type QueryCommandInput,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';

/** Every table of the relay is keyed by the string partition key `pk`; the replay table adds the string sort key `sk`. */
export type ItemKey = { pk: string; sk?: string };

/** DynamoDB's most writes in one BatchWriteItem. */
const BATCH_WRITE_MAX = 25;
/** Unprocessed items are sent again this many times before the batch counts as failed. */
const BATCH_WRITE_ATTEMPTS = 4;

/** A partition key that hides what it is for: neither a client_id nor an upstream is readable in the table. */
export const hashedKey = (prefix: string, subject: string): string => `${prefix}#${createHash('sha256').update(subject).digest('hex')}`;

/**
 * A DynamoDB client that gives up quickly: short timeouts and two attempts, because a check that
 * finds a table dead must still have time for the upstream call. `maxSockets` sizes its own
 * connection pool (the SDK's default is 50). Region, credentials and `AWS_ENDPOINT_URL_DYNAMODB`
 * come from the SDK's own environment unless `config` says otherwise.
 */
export function createQuickTableClient(config: DynamoDBClientConfig = {}, maxSockets = 50): DynamoDBClient {
  return new DynamoDBClient({
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 1000, requestTimeout: 1000, throwOnRequestTimeout: true, httpAgent: { maxSockets }, httpsAgent: { maxSockets } },
    ...config,
  });
}

export interface TableOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Leave out attributes whose value is undefined instead of refusing the item. */
  removeUndefinedValues?: boolean;
}

/**
 * One of the relay's DynamoDB tables as its stores use it: items read consistently, and writes
 * whose condition not holding is an answer (another container got there first, the item has
 * moved on) rather than a failure. Every other error is thrown, for the store to say what failed.
 *
 * @example
 * const table = new Table({ client: new DynamoDBClient({}), tableName: 'liveness-results' });
 * const written = await table.put({ Item: { pk: 'a', n: 1 }, ConditionExpression: 'attribute_not_exists(pk)' });
 */
export class Table {
  readonly #documents: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(options: TableOptions) {
    this.#documents = DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: options.removeUndefinedValues === true } });
    this.#tableName = options.tableName;
  }

  /** The item under `key`, or undefined when there is none. */
  async get(key: ItemKey): Promise<Record<string, unknown> | undefined> {
    const { Item: item } = await this.#documents.send(new GetCommand({ TableName: this.#tableName, Key: key, ConsistentRead: true }));
    return item;
  }

  /** Writes the item; false when its condition did not hold. */
  async put(input: Omit<PutCommandInput, 'TableName'>): Promise<boolean> {
    return (await unlessConditionFails(this.#documents.send(new PutCommand({ TableName: this.#tableName, ...input })))) !== undefined;
  }

  /** Updates the item: the attributes it returned (possibly none), or undefined when its condition did not hold. */
  async update(input: Omit<UpdateCommandInput, 'TableName'>): Promise<Record<string, unknown> | undefined> {
    const output = await unlessConditionFails(this.#documents.send(new UpdateCommand({ TableName: this.#tableName, ...input })));
    return output === undefined ? undefined : (output.Attributes ?? {});
  }

  /** The items of one partition, in sort key order (`ScanIndexForward`); pages are read until `Limit` items or the end. */
  async query(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.#documents.send(new QueryCommand({ TableName: this.#tableName, ...input, ExclusiveStartKey: start }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start !== undefined && (input.Limit === undefined || items.length < input.Limit));
    return input.Limit === undefined ? items : items.slice(0, input.Limit);
  }

  /** Writes and deletes without conditions, 25 to a request, sending again what DynamoDB left unprocessed. */
  async batchWrite(writes: Array<{ put: Record<string, unknown> } | { delete: ItemKey }>): Promise<void> {
    for (let at = 0; at < writes.length; at += BATCH_WRITE_MAX) {
      let requests: Array<Record<string, unknown>> = writes
        .slice(at, at + BATCH_WRITE_MAX)
        .map((write) => ('put' in write ? { PutRequest: { Item: write.put } } : { DeleteRequest: { Key: write.delete } }));
      for (let attempt = 1; requests.length > 0; attempt += 1) {
        if (attempt > BATCH_WRITE_ATTEMPTS) throw new Error(`${requests.length} writes left unprocessed by DynamoDB`);
        const output = await this.#documents.send(new BatchWriteCommand({ RequestItems: { [this.#tableName]: requests } }));
        requests = (output.UnprocessedItems?.[this.#tableName] ?? []) as Array<Record<string, unknown>>;
        if (requests.length > 0) await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt));
      }
    }
  }

  /** Deletes the item: the attributes it had (none when there was no item), or undefined when its condition did not hold. */
  async delete(input: Omit<DeleteCommandInput, 'TableName' | 'ReturnValues'>): Promise<Record<string, unknown> | undefined> {
    const output = await unlessConditionFails(this.#documents.send(new DeleteCommand({ TableName: this.#tableName, ReturnValues: 'ALL_OLD', ...input })));
    return output === undefined ? undefined : (output.Attributes ?? {});
  }
}

async function unlessConditionFails<T>(write: Promise<T>): Promise<T | undefined> {
  try {
    return await write;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return undefined;
    throw error;
  }
}
