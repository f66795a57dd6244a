/**
 * `npm start`: the relay's routes on http://127.0.0.1:$PORT (default 3000), with no stage prefix
 * and no API key, served by serverless-offline from the same handlers and bundles as a deployment
 * (stage `local` of serverless.yml, whose function environment follows this process's
 * environment).
 *
 * DynamoDB: when the environment names neither TOKEN_TABLE nor RESULTS_TABLE, the token and
 * results tables are created on AWS_ENDPOINT_URL_DYNAMODB if that is set, or else on an embedded
 * dynalite server on 127.0.0.1 (random port, in memory) that lives as long as this process.
 *
 * UPLOAD_BUCKET defaults to `liveness-relay-local-uploads`, the bucket of `npm run upload`.
 *
 * Deepvue: DEEPVUE_SECRET_ID, or DEEPVUE_CLIENT_ID + DEEPVUE_CLIENT_SECRET; with neither the
 * handlers answer from the built-in sandbox (header `x-liveness-provider: sandbox`).
 *
 * Everything listens on 127.0.0.1 only. SIGINT / SIGTERM stop the server and dynalite.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';

const HOST = '127.0.0.1';
const STAGE = 'local';
const DEFAULT_TOKEN_TABLE = 'liveness-relay-local-tokens';
const DEFAULT_RESULTS_TABLE = 'liveness-relay-local-results';
/** The bucket `npm run upload` uses by default, so its results can be read here. */
const DEFAULT_UPLOAD_BUCKET = 'liveness-relay-local-uploads';
const STOP_GRACE_MS = 5_000;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const requireCjs = createRequire(import.meta.url);

type Env = Record<string, string | undefined>;

const say = (message: string): void => {
  process.stderr.write(`[start] ${message}\n`);
};

const isSet = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';

function portFrom(env: Env, name: string, fallback: number | undefined): number | undefined {
  const raw = env[name];
  if (!isSet(raw)) return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${name} must be a TCP port (1-65535), got "${raw}"`);
  }
  return port;
}

/** A port that is free on 127.0.0.1 right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, HOST);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

interface Dynalite {
  server: Server;
  endpoint: string;
}

/** dynalite has no type declarations; it is loaded untyped and given the one shape used here. */
async function startDynalite(): Promise<Dynalite> {
  const dynalite = requireCjs('dynalite') as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  server.listen(0, HOST);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { server, endpoint: `http://${HOST}:${port}` };
}

async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

/** Creates `table` (partition key `pk`, string) unless it exists, and waits until it is ACTIVE. */
async function ensureTable(client: DynamoDBClient, table: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
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

const hasCredentialSource = (env: Env): boolean =>
  ['AWS_ACCESS_KEY_ID', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI'].some(
    (name) => isSet(env[name]),
  );

async function main(): Promise<void> {
  const port = portFrom(process.env, 'PORT', 3000) as number;
  const lambdaPort = portFrom(process.env, 'LAMBDA_PORT', undefined) ?? (await freePort());
  const env: Env = { ...process.env };
  env.AWS_REGION = isSet(env.AWS_REGION) ? env.AWS_REGION : isSet(env.AWS_DEFAULT_REGION) ? env.AWS_DEFAULT_REGION : 'us-east-1';

  let dynalite: Dynalite | undefined;
  let child: ChildProcess | undefined;
  let stopping = false;

  const stop = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child?.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      if (dynalite) await closeServer(dynalite.server);
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGHUP', () => void stop(0));
  // `npm start` runs this under `sh -c`; a SIGTERM sent to npm reaches that shell, which may die
  // without passing it on. Stop when the parent goes away rather than outlive it.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void stop(0);
  }, 250).unref();

  // DynamoDB: the tables the environment names, or local ones.
  const tokenTableSet = isSet(env.TOKEN_TABLE);
  const resultsTableSet = isSet(env.RESULTS_TABLE);
  let localDynamo = false;
  if (!tokenTableSet && !resultsTableSet) {
    let endpoint = env.AWS_ENDPOINT_URL_DYNAMODB;
    if (!isSet(endpoint)) {
      dynalite = await startDynalite();
      endpoint = dynalite.endpoint;
      env.AWS_ENDPOINT_URL_DYNAMODB = endpoint;
    }
    localDynamo = true;
    env.TOKEN_TABLE = DEFAULT_TOKEN_TABLE;
    env.RESULTS_TABLE = DEFAULT_RESULTS_TABLE;
    const client = new DynamoDBClient({
      endpoint,
      region: env.AWS_REGION,
      ...(hasCredentialSource(env) ? {} : { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
    });
    try {
      await ensureTable(client, DEFAULT_TOKEN_TABLE);
      await ensureTable(client, DEFAULT_RESULTS_TABLE);
    } finally {
      client.destroy();
    }
    say(
      `DynamoDB: tables ${DEFAULT_TOKEN_TABLE} and ${DEFAULT_RESULTS_TABLE} on ${endpoint}` +
        (dynalite ? ' (embedded dynalite, in memory)' : ''),
    );
  } else {
    say(`DynamoDB: TOKEN_TABLE=${env.TOKEN_TABLE ?? '(unset: token kept in memory)'} RESULTS_TABLE=${env.RESULTS_TABLE ?? '(unset)'}` +
      (isSet(env.AWS_ENDPOINT_URL_DYNAMODB) ? ` on ${env.AWS_ENDPOINT_URL_DYNAMODB}` : ''));
  }

  // GET /v1/liveness-results needs a bucket name to look results up by.
  if (!isSet(env.UPLOAD_BUCKET)) env.UPLOAD_BUCKET = DEFAULT_UPLOAD_BUCKET;

  // Credentials: when nothing the handlers reach is in AWS, dummy keys keep the SDK from
  // searching for real ones (instance metadata included). Only this child sees them.
  const secretsLocalOrUnused = !isSet(env.DEEPVUE_SECRET_ID) || isSet(env.AWS_ENDPOINT_URL_SECRETS_MANAGER);
  if (localDynamo && secretsLocalOrUnused && !hasCredentialSource(env)) {
    env.AWS_ACCESS_KEY_ID = 'local';
    env.AWS_SECRET_ACCESS_KEY = 'local';
  }

  if (isSet(env.DEEPVUE_SECRET_ID)) {
    say(`Deepvue: credentials from Secrets Manager secret ${env.DEEPVUE_SECRET_ID}, ${env.DEEPVUE_BASE_URL ?? 'https://production.deepvue.tech'}`);
  } else if (isSet(env.DEEPVUE_CLIENT_ID) && isSet(env.DEEPVUE_CLIENT_SECRET)) {
    say(`Deepvue: client ${env.DEEPVUE_CLIENT_ID} from the environment, ${env.DEEPVUE_BASE_URL ?? 'https://production.deepvue.tech'}`);
  } else {
    say(
      'Deepvue: not configured (no DEEPVUE_SECRET_ID, no DEEPVUE_CLIENT_ID + DEEPVUE_CLIENT_SECRET): ' +
        'answering from the built-in SANDBOX (header x-liveness-provider: sandbox)',
    );
  }

  const serverless = requireCjs.resolve('osls/bin/serverless.js');
  const args = [
    serverless,
    'offline',
    'start',
    '--stage', STAGE,
    '--host', HOST,
    '--httpPort', String(port),
    '--lambdaPort', String(lambdaPort),
    '--noPrependStageInUrl',
    '--noAuth',
    '--localEnvironment',
  ];
  child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  // The framework logs to stderr, the handlers to stdout: forward both, and watch them for
  // serverless-offline's "Server ready".
  let announced = false;
  let recent = '';
  const forward = (target: NodeJS.WriteStream) => (chunk: Buffer) => {
    target.write(chunk);
    if (announced) return;
    recent = (recent + chunk.toString('utf8')).slice(-4096);
    if (recent.includes('Server ready')) {
      announced = true;
      recent = '';
      say(`ready ${Math.round(performance.now())} ms after start: POST http://${HOST}:${port}/v1/liveness-check, GET http://${HOST}:${port}/v1/liveness-results/{key}`);
    }
  };
  child.stdout?.on('data', forward(process.stdout));
  child.stderr?.on('data', forward(process.stderr));
  child.on('error', (error) => {
    say(`could not start serverless offline: ${error.message}`);
    void stop(1);
  });
  child.on('exit', (code, signal) => {
    if (stopping) return;
    say(`serverless offline exited (${signal ?? `code ${code}`})`);
    void stop(code ?? 1);
  });
}

main().catch((error: unknown) => {
  say(`failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
