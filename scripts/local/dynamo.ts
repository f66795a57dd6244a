import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { CreateTableCommand, DescribeTableCommand, ResourceInUseException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** A DynamoDB-compatible server (dynalite, in memory) on 127.0.0.1, for `npm start`, `npm run upload` and the tests. */
export interface LocalDynamo {
  /** e.g. `http://127.0.0.1:41234`: hand it to clients as `endpoint` or `AWS_ENDPOINT_URL_DYNAMODB`. */
  endpoint: string;
  close(): Promise<void>;
}

/**
 * Starts one on a free port, in a thread of its own; its tables turn ACTIVE a moment after they
 * are created (ensureTable waits for it).
 * DynamoDB is another machine to a Lambda function: served on the caller's event loop, a check's
 * dozens of replay Queries would be parsed and answered between the handlers' own steps, and a
 * burst against `npm start` would wait on the table's work as no deployed function does.
 */
export async function startLocalDynamo(): Promise<LocalDynamo> {
  const worker = new Worker(new URL('dynamo-thread.ts', import.meta.url), { execArgv: [] });
  // once() rejects if the thread fails to start (an 'error' event) before it posts.
  const [endpoint] = (await once(worker, 'message')) as [string];
  worker.unref();
  return {
    endpoint,
    close: async () => {
      await worker.terminate();
    },
  };
}

/**
 * Creates `table` unless it exists, and waits until it is ACTIVE: partition key `pk` (string), as
 * serverless.yml defines the token and results tables, and with `sortKey` the sort key `sk`
 * (string) too, as it defines the replay table.
 */
export async function ensureTable(client: DynamoDBClient, table: string, sortKey = false): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, ...(sortKey ? [{ AttributeName: 'sk', AttributeType: 'S' as const }] : [])],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, ...(sortKey ? [{ AttributeName: 'sk', KeyType: 'RANGE' as const }] : [])],
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`table ${table} did not become ACTIVE`);
}
