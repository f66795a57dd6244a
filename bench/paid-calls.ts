import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { ResultsStore } from '../lib/uploads/results.ts';
import { objectCreatedEvent } from '../lib/uploads/notifications.ts';
import { localDynamoConfig } from '../test/support/dynalite.ts';
import { lambdaContext, restEvent, type RestHandler } from '../test/support/lambda.ts';
import { fixtureImage } from '../test/support/relay.ts';
import { localS3Config, S3RVER_CREDENTIALS } from '../test/support/s3rver.ts';
import { startSqs } from '../test/support/sqs.ts';
import { signingKeySecret, SIGNING_KEY_SECRET_ID, startSecretsManager } from '../test/support/secrets-manager.ts';
import { startAwsServers } from './aws-servers.ts';
import { runInChild, sendResult } from './child.ts';
import { percentile } from './stats.ts';
import { BENCH_CLIENT, imageDigest, startUpstream } from './upstream.ts';

/**
 * Row 6: a burst of uploads through several simulated s3Upload containers while API checks run,
 * against the Deepvue emulator enforcing Starter's windows (1/s, 30/min, 1,000/day), all time
 * scaled by `timeScale` so that minutes pass in seconds. Each container is a fresh import of the
 * function's module (its own Deepvue pool, token cache, limiter and AWS clients); a small loop
 * per container plays Lambda's SQS event source mapping (batches of ten, partial batch failures,
 * visibility timeout, dead-letter queue after five receives). The same run without
 * DEEPVUE_RATE_LIMITS is the baseline.
 */
export interface PaidCallsOptions {
  /** DEEPVUE_RATE_LIMITS set to the scaled plan (true), or unset: the baseline. */
  limiter: boolean;
  uploads: number;
  uploadContainers: number;
  apiContainers: number;
  /** Pause between two API checks of one API container. */
  apiPauseMs: number;
  /** How many times faster than real time the plan's windows and the queue's visibility timeout run. */
  timeScale: number;
  /** DEEPVUE_RATE_MARGIN_MS: real time, like the delays it covers. */
  marginMs: number;
  /** Stop waiting for the queue to drain after this long. */
  capMs: number;
}

export interface PaidCallsResult {
  uploads: number;
  completed: number;
  /** Uploads with another status, or none, when the run ended. */
  notCompleted: number;
  deadLettered: number;
  /** Liveness checks Deepvue received, and those it refused for exceeding the plan. */
  upstreamChecks: number;
  upstream429: number;
  /** Uploaded images by how often Deepvue answered (was paid for) them. */
  paidOnce: number;
  paidMoreThanOnce: number;
  neverPaid: number;
  /** Copies of waiting uploads sent back to the queue. */
  requeued: number;
  apiChecks: number;
  api200: number;
  api429: number;
  apiP50Ms: number;
  apiP99Ms: number;
  drainMs: number;
  /** EMF metrics the containers wrote, by name (PaidCallsAvoided by reason: `PaidCallsAvoided:<reason>`). */
  metrics: Record<string, number>;
}

export function measurePaidCalls(options: PaidCallsOptions): Promise<PaidCallsResult> {
  // The logs are not what is measured here (the metrics are counted below), and the logger reads its level at import.
  return runInChild(new URL(import.meta.url), { args: [JSON.stringify(options)], env: { POWERTOOLS_LOG_LEVEL: 'SILENT' } });
}

const BUCKET = 'bench-uploads';
const PREFIX = 'uploads/';
const TOKEN_TABLE = 'bench-tokens';
const RESULTS_TABLE = 'bench-results';
const QUEUE = 'bench-upload-queue';
const MAX_RECEIVE_COUNT = 5;
const VISIBILITY_TIMEOUT_S = 180;
const PHOTO = fixtureImage('spoof-printed-photo.jpg');

type UploadHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** A photograph made unique by bytes after its end marker, so that Deepvue's answers can be counted per image. */
const uniquePhoto = (tag: string): Buffer => Buffer.concat([PHOTO, Buffer.from(`\n${tag}\n`)]);

async function run(options: PaidCallsOptions): Promise<PaidCallsResult> {
  const k = options.timeScale;
  const plan = [
    { limit: 1, windowMs: 1000 / k },
    { limit: 30, windowMs: 60_000 / k },
    { limit: 1000, windowMs: 86_400_000 / k },
  ];
  const [upstream, aws, sqs, secrets] = await Promise.all([
    startUpstream({ plan }),
    startAwsServers([TOKEN_TABLE, RESULTS_TABLE], [BUCKET]),
    startSqs({ queueName: QUEUE, maxReceiveCount: MAX_RECEIVE_COUNT, visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_S / k }),
    startSecretsManager({ [SIGNING_KEY_SECRET_ID]: signingKeySecret() }),
  ]);
  try {
    Object.assign(process.env, {
      DEEPVUE_BASE_URL: upstream.baseUrl,
      DEEPVUE_CLIENT_ID: BENCH_CLIENT.id,
      DEEPVUE_CLIENT_SECRET: BENCH_CLIENT.secret,
      AWS_ENDPOINT_URL_DYNAMODB: aws.dynamoEndpoint,
      AWS_ENDPOINT_URL_S3: aws.s3Endpoint,
      AWS_ENDPOINT_URL_SQS: sqs.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      SIGNING_KEY_SECRET_ID,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_LAMBDA_FUNCTION_NAME: 'bench',
      TOKEN_TABLE,
      RESULTS_TABLE,
      UPLOAD_BUCKET: BUCKET,
      UPLOAD_PREFIX: PREFIX,
      UPLOAD_MAX_RECEIVE_COUNT: String(MAX_RECEIVE_COUNT),
      UPSTREAM_DEADLINE_MS: '5000',
      DEEPVUE_RATE_MARGIN_MS: String(options.marginMs),
      DEEPVUE_RATE_CONTAINERS: String(options.uploadContainers + options.apiContainers),
      METRICS_NAMESPACE: 'LivenessRelayBench',
    });
    const metrics = countMetrics();
    if (options.limiter) process.env.DEEPVUE_RATE_LIMITS = plan.map((window) => `${window.limit}/${window.windowMs}ms`).join(',');
    for (const name of ['DEEPVUE_SECRET_ID', 'EVENT_BUS_NAME', 'IS_OFFLINE', 'IS_LOCAL', 'POWERTOOLS_DEV']) delete process.env[name];

    // Every import with its own query is a module instance of its own: a container.
    const load = async (file: string, index: number) =>
      ((await import(`../functions/${file}.ts?container=${index}`)) as { handler: unknown }).handler;
    const uploaders = await Promise.all(Array.from({ length: options.uploadContainers }, (_, index) => load('s3-upload', index))) as UploadHandler[];
    const apis = await Promise.all(Array.from({ length: options.apiContainers }, (_, index) => load('liveness-check', index))) as RestHandler[];

    const s3 = new S3Client(localS3Config(aws.s3Endpoint));
    const images: { key: string; digest: string }[] = [];
    for (let index = 0; index < options.uploads; index += 1) {
      const key = `${PREFIX}burst/${index}.jpg`;
      const body = uniquePhoto(`upload-${index}`);
      const { ETag: eTag = '' } = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
      const sequencer = (0x1000000 + index).toString(16).toUpperCase();
      sqs.enqueue(JSON.stringify(objectCreatedEvent([{ bucket: BUCKET, key, eTag: eTag.replaceAll('"', ''), size: body.length, sequencer }])));
      images.push({ key, digest: imageDigest(body.toString('base64')) });
    }
    s3.destroy();

    const started = performance.now();
    const stopAt = Date.now() + options.capMs;
    let busy = 0;
    const drained = () => sqs.depth() === 0 && busy === 0;
    const over = () => drained() || Date.now() > stopAt;

    const poll = async (handler: UploadHandler) => {
      while (!over()) {
        const records = sqs.receive(10);
        if (records.length === 0) {
          await sleep(5);
          continue;
        }
        busy += 1;
        try {
          const answer = await handler({ Records: records }, lambdaContext(30_000));
          sqs.settle(records, new Set(answer.batchItemFailures.map((failure) => failure.itemIdentifier)));
        } finally {
          busy -= 1;
        }
      }
    };

    const apiDurations: number[] = [];
    const apiStatuses: number[] = [];
    const callApi = async (handler: RestHandler, index: number) => {
      for (let check = 0; !over(); check += 1) {
        const body = JSON.stringify({ image: uniquePhoto(`api-${index}-${check}`).toString('base64') });
        const event = restEvent('POST', '/v1/liveness-check', { body });
        const began = performance.now();
        const answer = (await handler(event, lambdaContext(29_000))) as { statusCode: number };
        apiDurations.push(performance.now() - began);
        apiStatuses.push(answer.statusCode);
        await sleep(options.apiPauseMs);
      }
    };

    await Promise.all([...uploaders.map(poll), ...apis.map(callApi)]);
    const drainMs = performance.now() - started;

    const client = new DynamoDBClient(localDynamoConfig(aws.dynamoEndpoint));
    const results = new ResultsStore({ client, tableName: RESULTS_TABLE, retentionDays: 1 });
    const statuses = await Promise.all(images.map(async (image) => (await results.read(BUCKET, image.key))?.status));
    client.destroy();
    const tally = await upstream.tally();
    const paid = images.map((image) => tally.paidByImage[image.digest] ?? 0);
    const sorted = apiDurations.toSorted((a, b) => a - b);

    return {
      uploads: options.uploads,
      completed: statuses.filter((status) => status === 'COMPLETED').length,
      notCompleted: statuses.filter((status) => status !== 'COMPLETED').length,
      deadLettered: sqs.deadLetters().length,
      upstreamChecks: tally.checks,
      upstream429: tally.overPlan,
      paidOnce: paid.filter((count) => count === 1).length,
      paidMoreThanOnce: paid.filter((count) => count > 1).length,
      neverPaid: paid.filter((count) => count === 0).length,
      requeued: sqs.sent().length,
      apiChecks: apiStatuses.length,
      api200: apiStatuses.filter((status) => status === 200).length,
      api429: apiStatuses.filter((status) => status === 429).length,
      apiP50Ms: percentile(sorted, 0.5),
      apiP99Ms: percentile(sorted, 0.99),
      drainMs,
      metrics,
    };
  } finally {
    upstream.stop();
    aws.stop();
    await sqs.close();
    await secrets.close();
  }
}

/** Counts the EMF records written to standard output from now on, by metric (and reason). */
function countMetrics(): Record<string, number> {
  const counts: Record<string, number> = {};
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    for (const line of String(chunk).split('\n')) {
      if (!line.includes('"_aws"')) continue;
      const record = JSON.parse(line) as { _aws: { CloudWatchMetrics: { Metrics: { Name: string }[] }[] }; Reason?: string };
      for (const { Name: name } of record._aws.CloudWatchMetrics[0]?.Metrics ?? []) {
        const key = name === 'PaidCallsAvoided' ? `${name}:${record.Reason}` : name;
        counts[key] = (counts[key] ?? 0) + 1;
      }
    }
    const callback = rest.find((argument) => typeof argument === 'function');
    if (typeof callback === 'function') callback();
    return true;
  }) as typeof process.stdout.write;
  return counts;
}

if (import.meta.main) {
  sendResult(await run(JSON.parse(process.argv[2] ?? '{}') as PaidCallsOptions));
}
