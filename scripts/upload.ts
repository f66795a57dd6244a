/**
 * `npm run upload -- path/to/selfie.jpg [key]`: tries the upload path on this machine and prints
 * the stored result and what became of the image: deleted once checked, or kept
 * (KEEP_UPLOADS_HOURS) with its tags. The key is UPLOAD_PREFIX + the file's name (or `key`).
 *
 * With `npm start` running on $PORT (default 3000) and its embedded S3: the file is uploaded to
 * that stack's bucket, whose object event goes through its upload queue to `s3Upload`, and the
 * result is read back with `GET /v1/liveness-results/{key}` from that stack; it stays readable there.
 *
 * Without it: S3 is AWS_ENDPOINT_URL_S3 if set, else an embedded s3rver (objects kept in
 * .local/s3rver/); DynamoDB is the results table (RESULTS_TABLE, default
 * liveness-relay-local-results) on AWS_ENDPOINT_URL_DYNAMODB if set, else on an embedded
 * dynalite; the s3Upload handler is invoked in process with the S3 event the upload produces, and
 * everything stops afterwards. Deepvue: DEEPVUE_CLIENT_ID + DEEPVUE_CLIENT_SECRET or
 * DEEPVUE_SECRET_ID if set, else the built-in sandbox. No completion events are published
 * (EventBridge has no local stand-in here).
 */
// First: what Lambda's runtime provides, read by Powertools as lib/ is loaded.
import './local/runtime.ts';
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectTaggingCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Event } from 'aws-lambda';
import { logger } from '../lib/platform/logger.ts';
import { ResultsStore } from '../lib/uploads/results.ts';
import { objectCreatedEvent } from '../lib/uploads/notifications.ts';
import { ensureTable, startLocalDynamo } from './local/dynamo.ts';
import { useLocalCredentials } from './local/credentials.ts';
import { lambdaContext, loadHandler } from './local/lambda.ts';
import { asLambdaFunction } from './local/runtime.ts';
import { S3RVER_CREDENTIALS, startLocalS3 } from './local/s3.ts';
import { chooseRunningStack, type RunningStack } from './local/state.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
/** How long to wait for the running stack's result: its first try, and a few retries of a transient failure. */
const RESULT_WAIT_MS = 120_000;

const say = (message: string): void => {
  process.stderr.write(`[upload] ${message}\n`);
};
const isSet = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';

/** What became of the uploaded image once its result was recorded. */
type Image = { deleted: true } | { deleted: false; tags: Record<string, string | undefined> };

interface Printed {
  result: unknown;
  image: Image;
}

async function imageOf(s3: S3Client, bucket: string, key: string): Promise<Image> {
  try {
    const { TagSet = [] } = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
    return { deleted: false, tags: Object.fromEntries(TagSet.map((tag) => [tag.Key, tag.Value])) };
  } catch (error) {
    if (error instanceof NoSuchKey) return { deleted: true };
    throw error;
  }
}

/** Deleted or tagged, which happens just after the result is written. */
const settled = (image: Image): boolean => image.deleted || image.tags['liveness-sub-code'] !== undefined;

/** Uploads to the running stack's bucket and waits for the result its own s3Upload records. */
async function uploadToStack(stack: RunningStack & { s3: NonNullable<RunningStack['s3']> }, body: Buffer, name: string): Promise<Printed | undefined> {
  const { bucket, endpoint, uploadPrefix } = stack.s3;
  const key = `${uploadPrefix}${name}`;
  const s3 = new S3Client({ endpoint, region: 'us-east-1', credentials: S3RVER_CREDENTIALS, forcePathStyle: true });
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    say(`uploaded s3://${bucket}/${key} (${body.byteLength} bytes) to the npm start stack on ${stack.url}`);
    const resultUrl = `${stack.url}/v1/liveness-results/${encodeURIComponent(key)}`;
    const deadline = Date.now() + RESULT_WAIT_MS;
    while (Date.now() < deadline) {
      const answer = await fetch(resultUrl);
      if (answer.status === 200) {
        const result = (await answer.json()) as unknown;
        let image = await imageOf(s3, bucket, key);
        for (let attempt = 0; attempt < 20 && !settled(image); attempt += 1) {
          await sleep(100);
          image = await imageOf(s3, bucket, key);
        }
        say(`result: GET ${resultUrl}`);
        return { result, image };
      }
      await answer.body?.cancel();
      await sleep(250);
    }
    say(`no result within ${RESULT_WAIT_MS / 1000} s (see npm start's output); it will be at GET ${resultUrl}`);
    return undefined;
  } finally {
    s3.destroy();
  }
}

/** Uploads to a local or configured S3 and invokes s3Upload in this process. */
async function uploadAlone(body: Buffer, name: string): Promise<Printed | undefined> {
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
  const key = `${env.UPLOAD_PREFIX}${name}`;

  const stops: Array<() => Promise<void>> = [];
  try {
    if (!isSet(env.AWS_ENDPOINT_URL_S3)) {
      const s3rver = await startLocalS3({ directory: resolve('.local/s3rver'), buckets: [bucket] });
      stops.push(() => s3rver.close());
      env.AWS_ENDPOINT_URL_S3 = s3rver.endpoint;
      say(`S3: embedded s3rver on ${s3rver.endpoint}, bucket ${bucket} (objects kept in .local/s3rver/)`);
    }
    if (!isSet(env.AWS_ENDPOINT_URL_DYNAMODB)) {
      const dynalite = await startLocalDynamo();
      stops.push(() => dynalite.close());
      env.AWS_ENDPOINT_URL_DYNAMODB = dynalite.endpoint;
      say(`DynamoDB: embedded dynalite on ${dynalite.endpoint}, table ${table}`);
    }
    say(useLocalCredentials(env));

    const s3 = new S3Client({});
    const dynamo = new DynamoDBClient({});
    stops.push(async () => {
      s3.destroy();
      dynamo.destroy();
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: unknown) => {
      if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((error as Error).name)) throw error;
    });
    await ensureTable(dynamo, table);

    const { ETag: eTag } = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    say(`uploaded s3://${bucket}/${key} (${body.byteLength} bytes)`);
    const event: S3Event = objectCreatedEvent([
      { bucket, key, eTag: (eTag ?? '').replaceAll('"', ''), size: body.byteLength, sequencer: Date.now().toString(16).toUpperCase() },
    ]);

    // Imported only now: the handler reads its configuration, endpoints included, at import.
    const handler = asLambdaFunction(await loadHandler(repoRoot, 'functions/s3-upload.handler'), logger);
    try {
      await handler(event, lambdaContext({ name: 's3Upload', memorySize: 512 }, 30_000, env.AWS_REGION));
    } catch (error) {
      say(`the check must be retried: ${(error as Error).message}`);
    }

    const results = new ResultsStore({ client: dynamo, tableName: table, retentionDays: 30 });
    const stored = await results.read(bucket, key);
    return stored === undefined ? undefined : { result: stored, image: await imageOf(s3, bucket, key) };
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

async function main(): Promise<number> {
  const [file, keyName] = process.argv.slice(2);
  if (file === undefined || file.startsWith('-')) {
    say('usage: npm run upload -- path/to/selfie.jpg [key under UPLOAD_PREFIX]');
    return 2;
  }
  const body = readFileSync(file);
  const name = keyName ?? basename(file);
  const port = isSet(process.env.PORT) ? Number(process.env.PORT) : undefined;
  const { stack, why, ambiguous } = await chooseRunningStack(repoRoot, port);
  if (ambiguous) {
    say(`${why}: run it again with PORT=<the port>`);
    return 2;
  }
  let printed: Printed | undefined;
  if (stack?.s3 !== undefined) {
    say(`using ${why}`);
    printed = await uploadToStack({ ...stack, s3: stack.s3 }, body, name);
  } else {
    say(stack === undefined
      ? `${why}: checking with servers of its own, stopped afterwards (the result is printed here, not kept for curl)`
      : `${why} has no embedded S3 (its AWS_ENDPOINT_URL_S3 points elsewhere): checking here instead, with the handler in this process`);
    printed = await uploadAlone(body, name);
  }
  process.stdout.write(`${JSON.stringify({ result: printed?.result ?? null, image: printed?.image ?? null }, null, 2)}\n`);
  return printed === undefined ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(`failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
