import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type DeleteCommandInput,
  type PutCommandInput,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';

/** Every table of the relay has one key: the string partition key `pk`. */
export type ItemKey = { pk: string };

/** A partition key that hides what it is for: neither a client_id nor an upstream is readable in the table. */
export const hashedKey = (prefix: string, subject: string): string => `${prefix}#${createHash('sha256').update(subject).digest('hex')}`;

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
