import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';

/** A Lambda entry point as the runtime calls it. */
export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

/** What the local runs know of a function: its name in serverless.yml and its limits there. */
export interface FunctionSettings {
  /** The key under `functions:` in serverless.yml, e.g. `livenessCheck`. */
  key: string;
  /** The deployed function name, e.g. `liveness-relay-local-livenessCheck`. */
  name: string;
  timeoutSeconds: number;
  memorySize: number;
}

/** The context the Lambda runtime hands an invocation, with the function's timeout as its deadline. */
export function lambdaContext(fn: Pick<FunctionSettings, 'name' | 'memorySize'>, timeoutMs: number, region = 'us-east-1'): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${fn.name}`,
    memoryLimitInMB: String(fn.memorySize),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${fn.name}`,
    logStreamName: `local/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Source extensions tried for a handler path, in the order Lambda's runtime and Node 24 would. */
const SOURCE_EXTENSIONS = ['.ts', '.mts', '.mjs', '.js', '.cjs'];

/**
 * Imports the export a serverless.yml `handler` names (`functions/liveness-check.handler`) from
 * the TypeScript source, which Node 24 runs directly: the same code the bundles are built from.
 */
export async function loadHandler(repoRoot: string, handler: string): Promise<LambdaHandler> {
  const dot = handler.lastIndexOf('.');
  if (dot <= 0) throw new Error(`handler "${handler}" must be <file>.<export>`);
  const file = handler.slice(0, dot);
  const exported = handler.slice(dot + 1);
  const source = SOURCE_EXTENSIONS.map((extension) => join(repoRoot, `${file}${extension}`)).find((path) => existsSync(path));
  if (source === undefined) throw new Error(`no source file for handler "${handler}" (${file}${SOURCE_EXTENSIONS.join('|')})`);
  const module = (await import(pathToFileURL(source).href)) as Record<string, unknown>;
  const entry = module[exported];
  if (typeof entry !== 'function') throw new Error(`${file} exports no function "${exported}"`);
  return entry as LambdaHandler;
}
