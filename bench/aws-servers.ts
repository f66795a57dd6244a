import { fork } from 'node:child_process';
import { createTable, startDynalite } from '../test/support/dynalite.ts';
import { startS3rver } from '../test/support/s3rver.ts';

export interface BenchAwsServers {
  dynamoEndpoint: string;
  s3Endpoint: string;
  stop(): void;
}

/**
 * dynalite (with `tables`, and `sortedTables` with the sort key `sk`, as the replay table) and
 * s3rver (with `buckets`) in a process of their own, like the
 * services they stand in for: the simulated containers then share them without sharing their
 * CPU time on one event loop.
 */
export function startAwsServers(tables: string[], buckets: string[], sortedTables: string[] = []): Promise<BenchAwsServers> {
  const child = fork(new URL(import.meta.url), [JSON.stringify({ tables, buckets, sortedTables })], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the bench's AWS servers exited early (code ${code})`)));
    child.once('message', (message) => {
      const { dynamoEndpoint, s3Endpoint } = message as { dynamoEndpoint: string; s3Endpoint: string };
      resolve({ dynamoEndpoint, s3Endpoint, stop: () => child.disconnect() });
    });
  });
}

if (import.meta.main) {
  const { tables, buckets, sortedTables } = JSON.parse(process.argv[2] ?? '{}') as { tables: string[]; buckets: string[]; sortedTables: string[] };
  const [dynamo, s3] = await Promise.all([startDynalite(), startS3rver(buckets)]);
  await Promise.all([...tables.map((table) => createTable(dynamo.endpoint, table)), ...sortedTables.map((table) => createTable(dynamo.endpoint, table, true))]);
  process.once('disconnect', () => {
    void Promise.all([dynamo.close(), s3.close()]).finally(() => process.exit(0));
  });
  process.send?.({ dynamoEndpoint: dynamo.endpoint, s3Endpoint: s3.endpoint });
}
