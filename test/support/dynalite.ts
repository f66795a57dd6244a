import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { CreateTableCommand, DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { useStarted } from './hooks.ts';

// dynalite ships no type declarations; this is the one call the tests make.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: { createTableMs?: number }) => Server;

export interface RunningDynalite {
  /** e.g. `http://127.0.0.1:41234`: hand it to clients as `endpoint` or `AWS_ENDPOINT_URL_DYNAMODB`. */
  endpoint: string;
  close(): Promise<void>;
}

/** A DynamoDB-compatible server (in memory) on a free loopback port; tables are ACTIVE as soon as created. */
export async function startDynalite(): Promise<RunningDynalite> {
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        // SDK clients keep connections alive; without this, close waits for them.
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Client settings for a local server: any credentials and region do, but the SDK needs some. */
export function localDynamoConfig(endpoint: string): DynamoDBClientConfig {
  return { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
}

/** Creates table `name` with partition key `pk` (string), on demand, as the stack defines its tables. */
export async function createTable(endpoint: string, name: string): Promise<void> {
  const client = new DynamoDBClient(localDynamoConfig(endpoint));
  try {
    await client.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
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
