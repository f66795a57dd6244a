/**
 * `npm run upload -- path/to/selfie.jpg [key]`: tries the upload path on this machine. Stores the
 * file under UPLOAD_PREFIX in a local S3-compatible server, invokes the s3Upload handler in
 * process with the S3 event that upload produces, and prints the stored result and the object's
 * tags. Then everything stops; the objects stay in .local/s3rver/.
 *
 * S3: AWS_ENDPOINT_URL_S3 if set, else an embedded s3rver on 127.0.0.1. DynamoDB: the results
 * table (RESULTS_TABLE, default liveness-relay-local-results) on AWS_ENDPOINT_URL_DYNAMODB if set
 * (e.g. the one `npm start` uses), else on an embedded dynalite. Deepvue: DEEPVUE_CLIENT_ID +
 * DEEPVUE_CLIENT_SECRET or DEEPVUE_SECRET_ID if set, else the built-in sandbox. No completion
 * events are published (EventBridge has no local stand-in here).
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { basename, resolve } from 'node:path';
import { CreateTableCommand, DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectTaggingCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Context, S3Event } from 'aws-lambda';
import { ResultsStore } from '../lib/results.ts';
import { objectCreatedEvent } from '../lib/uploads.ts';

const HOST = '127.0.0.1';
const requireCjs = createRequire(import.meta.url);
const say = (message: string): void => {
  process.stderr.write(`[upload] ${message}\n`);
};
const isSet = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';

// dynalite and s3rver ship no type declarations; these are the shapes used here.
type DynaliteFactory = (options: { createTableMs?: number }) => Server;
interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  httpServer: Server;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

async function startS3rver(bucket: string): Promise<{ endpoint: string; close(): Promise<void> }> {
  const S3rver = requireCjs('s3rver') as S3rverClass;
  const server = new S3rver({ address: HOST, port: 0, silent: true, directory: resolve('.local/s3rver'), configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  return {
    endpoint: `http://${HOST}:${port}`,
    close: async () => {
      server.httpServer.closeAllConnections();
      await server.close();
    },
  };
}

async function startDynalite(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const server = (requireCjs('dynalite') as DynaliteFactory)({ createTableMs: 0 });
  await new Promise<void>((ready) => server.listen(0, HOST, ready));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${HOST}:${port}`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** What the handler needs of a Lambda context when invoked in process. */
function localContext(timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 's3Upload',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:s3Upload',
    memoryLimitInMB: '512',
    awsRequestId: `local-${Date.now()}`,
    logGroupName: '/aws/lambda/s3Upload',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

async function main(): Promise<number> {
  const [file, keyName] = process.argv.slice(2);
  if (file === undefined || file.startsWith('-')) {
    say('usage: npm run upload -- path/to/selfie.jpg [key under UPLOAD_PREFIX]');
    return 2;
  }
  const body = readFileSync(file);
  const env = process.env;
  env.AWS_REGION = isSet(env.AWS_REGION) ? env.AWS_REGION : 'us-east-1';
  env.UPLOAD_BUCKET = isSet(env.UPLOAD_BUCKET) ? env.UPLOAD_BUCKET : 'liveness-relay-local-uploads';
  env.RESULTS_TABLE = isSet(env.RESULTS_TABLE) ? env.RESULTS_TABLE : 'liveness-relay-local-results';
  env.UPLOAD_PREFIX ??= 'uploads/';
  // A local run: the handler may start the sandbox when Deepvue is not configured.
  env.IS_LOCAL = 'true';
  delete env.EVENT_BUS_NAME;
  const bucket = env.UPLOAD_BUCKET;
  const table = env.RESULTS_TABLE;
  const key = `${env.UPLOAD_PREFIX}${keyName ?? basename(file)}`;

  const stops: Array<() => Promise<void>> = [];
  try {
    if (!isSet(env.AWS_ENDPOINT_URL_S3)) {
      const s3rver = await startS3rver(bucket);
      stops.push(() => s3rver.close());
      env.AWS_ENDPOINT_URL_S3 = s3rver.endpoint;
      // s3rver accepts only its own built-in account; dynalite accepts any.
      env.AWS_ACCESS_KEY_ID = 'S3RVER';
      env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
      delete env.AWS_SESSION_TOKEN;
      delete env.AWS_PROFILE;
      say(`S3: embedded s3rver on ${s3rver.endpoint}, bucket ${bucket} (objects kept in .local/s3rver/)`);
    }
    if (!isSet(env.AWS_ENDPOINT_URL_DYNAMODB)) {
      const dynalite = await startDynalite();
      stops.push(() => dynalite.close());
      env.AWS_ENDPOINT_URL_DYNAMODB = dynalite.endpoint;
      say(`DynamoDB: embedded dynalite on ${dynalite.endpoint}, table ${table}`);
    }

    const s3 = new S3Client({});
    const dynamo = new DynamoDBClient({});
    stops.push(async () => {
      s3.destroy();
      dynamo.destroy();
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: unknown) => {
      if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((error as Error).name)) throw error;
    });
    await dynamo.send(new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    })).catch((error: unknown) => {
      if (!(error instanceof ResourceInUseException)) throw error;
    });

    const { ETag: eTag } = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    say(`uploaded s3://${bucket}/${key} (${body.byteLength} bytes)`);
    const event: S3Event = objectCreatedEvent([
      { bucket, key, eTag: (eTag ?? '').replaceAll('"', ''), size: body.byteLength, sequencer: Date.now().toString(16).toUpperCase() },
    ]);

    // Imported only now: the handler reads its configuration, endpoints included, at import.
    const { handler } = (await import('../functions/s3-upload.ts')) as {
      handler: (event: S3Event, context: Context) => Promise<unknown>;
    };
    try {
      await handler(event, localContext(30_000));
    } catch (error) {
      say(`the check must be retried: ${(error as Error).message}`);
    }

    const results = new ResultsStore({ client: dynamo, tableName: table, retentionDays: 30 });
    const stored = await results.read(bucket, key);
    const { TagSet = [] } = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
    process.stdout.write(`${JSON.stringify({ result: stored ?? null, tags: Object.fromEntries(TagSet.map((tag) => [tag.Key, tag.Value])) }, null, 2)}\n`);
    return stored === undefined ? 1 : 0;
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(`failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
