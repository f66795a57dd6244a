import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One function as a stage deploys it. */
export interface DeployedFunction {
  /** Its name in serverless.yml (`livenessCheck`). */
  name: string;
  /** Its Lambda name (`liveness-relay-prod-livenessCheck`). */
  deployedName: string;
  /** The memory it is configured with: what each of its milliseconds is billed at. */
  memoryMb: number;
  environment: Record<string, string>;
  /** The module of its handler, from the repository's root (`functions/liveness-check.ts`). */
  module: string;
}

/** A DynamoDB table of the stack, as CloudFormation creates it. */
export interface TableDefinition {
  TableName: string;
  KeySchema: Array<{ AttributeName: string; KeyType: 'HASH' | 'RANGE' }>;
  AttributeDefinitions: Array<{ AttributeName: string; AttributeType: 'S' | 'N' | 'B' }>;
}

export interface Service {
  functions: Record<string, DeployedFunction>;
  tables: TableDefinition[];
}

interface Printed {
  provider: { memorySize?: number; environment?: Record<string, string> };
  functions: Record<string, { name: string; handler: string; memorySize?: number; environment?: Record<string, string> }>;
  resources?: { Resources?: Record<string, { Type?: string; Properties?: unknown }> };
}

/**
 * The functions and tables of serverless.yml as `stage` deploys them, read through `serverless
 * print` (the framework resolves params, variables and the files of deploy/): what the cost bench
 * prices is what that stage runs.
 */
export function readService(stage: string): Service {
  const printed = spawnSync(process.execPath, [join(ROOT, 'node_modules/.bin/serverless'), 'print', '--format', 'json', '--stage', stage], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (printed.status !== 0) throw new Error(`serverless print --stage ${stage} failed: ${printed.stderr}`);
  const config = JSON.parse(printed.stdout) as Printed;
  const functions = Object.fromEntries(
    Object.entries(config.functions).map(([name, definition]) => [
      name,
      {
        name,
        deployedName: definition.name,
        memoryMb: definition.memorySize ?? config.provider.memorySize ?? 1024,
        environment: { ...config.provider.environment, ...definition.environment },
        module: `${definition.handler.slice(0, definition.handler.lastIndexOf('.'))}.ts`,
      },
    ]),
  );
  const tables = Object.values(config.resources?.Resources ?? {})
    .filter((resource) => resource.Type === 'AWS::DynamoDB::Table')
    .map((resource) => {
      const { TableName, KeySchema, AttributeDefinitions } = resource.Properties as TableDefinition;
      return { TableName, KeySchema, AttributeDefinitions };
    });
  return { functions, tables };
}
