import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { ensureTable, startLocalDynamo, type LocalDynamo } from '../../scripts/local/dynamo.ts';
import { useStarted } from './hooks.ts';

/** A DynamoDB-compatible server (dynalite, in memory) on a free loopback port, the one `npm start` embeds. */
export type RunningDynalite = LocalDynamo;
export const startDynalite = startLocalDynamo;

/** Client settings for a local server: any credentials and region do, but the SDK needs some. */
export function localDynamoConfig(endpoint: string): DynamoDBClientConfig {
  return { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
}

/**
 * Creates table `name` as `npm start` does (scripts/local/dynamo.ts, ensureTable): partition key
 * `pk`, with `sortKey` also `sk`, on demand; resolves once it is ACTIVE.
 */
export async function createTable(endpoint: string, name: string, sortKey = false): Promise<void> {
  const client = new DynamoDBClient(localDynamoConfig(endpoint));
  try {
    await ensureTable(client, name, sortKey);
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
