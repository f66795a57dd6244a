import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { CreateTableCommand, DescribeTableCommand, ResourceInUseException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { listenOnLoopback } from './loopback.ts';

/** A DynamoDB-compatible server (dynalite, in memory) on 127.0.0.1, for `npm start`, `npm run upload` and the tests. */
export interface LocalDynamo {
  /** e.g. `http://127.0.0.1:41234`: hand it to clients as `endpoint` or `AWS_ENDPOINT_URL_DYNAMODB`. */
  endpoint: string;
  close(): Promise<void>;
}

// dynalite ships no type declarations; this is the one call made here.
type DynaliteFactory = (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

/** Starts one on a free port; its tables are ACTIVE as soon as created. */
export async function startLocalDynamo(): Promise<LocalDynamo> {
  const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;
  const { url, close } = await listenOnLoopback(dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }));
  return { endpoint: url, close };
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
