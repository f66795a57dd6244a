import { CreateTableCommand, DynamoDBClient, waitUntilTableExists, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { startLocalDynamo, type LocalDynamo } from '../../scripts/local/dynamo.ts';
import { useStarted } from './hooks.ts';

/** A DynamoDB-compatible server (dynalite, in memory) on a free loopback port, the one `npm start` embeds. */
export type RunningDynalite = LocalDynamo;
export const startDynalite = startLocalDynamo;

/** Client settings for a local server: any credentials and region do, but the SDK needs some. */
export function localDynamoConfig(endpoint: string): DynamoDBClientConfig {
  return { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
}

/**
 * Creates table `name` with partition key `pk` (string), on demand, as the stack defines its
 * tables; with `sortKey`, also the sort key `sk` (string), as the replay table has. Resolves once
 * it is ACTIVE.
 */
export async function createTable(endpoint: string, name: string, sortKey = false): Promise<void> {
  const client = new DynamoDBClient(localDynamoConfig(endpoint));
  try {
    await client.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, ...(sortKey ? [{ AttributeName: 'sk', KeyType: 'RANGE' as const }] : [])],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, ...(sortKey ? [{ AttributeName: 'sk', AttributeType: 'S' as const }] : [])],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    // dynalite answers the creation before its table is ACTIVE (a moment later, on its own thread).
    await waitUntilTableExists({ client, maxWaitTime: 10, minDelay: 0.05, maxDelay: 0.05 }, { TableName: name });
  } finally {
    client.destroy();
  }
}

/** A dynalite for the tests of a file or a `describe`, holding `tables` (see useStarted). */
export function useDynalite(...tables: string[]): RunningDynalite {
  return useStarted(async () => {
    const dynalite = await startDynalite();
    await Promise.all(tables.map((name) => createTable(dynalite.endpoint, name)));
    return dynalite;
  });
}
