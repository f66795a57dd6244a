import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Context, S3Event, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { ResultsStore } from '../../lib/uploads/results.ts';
import { objectCreatedEvent, type StoredObject } from '../../lib/uploads/notifications.ts';
import { startDeepvueEmulator, type DeepvueEmulator } from './deepvue-emulator.ts';
import { createTable, localDynamoConfig, startDynalite, type RunningDynalite } from './dynalite.ts';
import { startEventBridge, type EventBridgeEndpoint } from './eventbridge.ts';
import { useStarted } from './hooks.ts';
import { lambdaContext, loadFunction } from './lambda.ts';
import { CLIENT } from './relay.ts';
import { localS3Config, S3RVER_CREDENTIALS, startS3rver, type RunningS3 } from './s3rver.ts';
import { signingKeySecret, SIGNING_KEY_SECRET_ID, startSecretsManager, type SecretsManagerEndpoint } from './secrets-manager.ts';
import { startSqs, type SqsEndpoint } from './sqs.ts';
import { captureOutput, type CapturedOutput } from './output.ts';

export const BUCKET = 'selfies-test';
export const PREFIX = 'uploads/';
export const RESULTS_TABLE = 'liveness-results-test';
/** Created with the pipeline but unused unless a test sets TOKEN_TABLE (the token and the rate limiter live there). */
export const TOKEN_TABLE = 'liveness-tokens-test';
export const MAX_RECEIVE_COUNT = 3;
export const QUEUE_NAME = 'liveness-relay-test-uploads';

export type UploadHandler = (event: SQSEvent | S3Event, context: Context) => Promise<SQSBatchResponse | undefined>;

/** One SQS delivery of an object's notification. */
export interface Delivery {
  object: StoredObject;
  /** ApproximateReceiveCount: 1 on the first receive. */
  receiveCount?: number;
  messageId?: string;
}

/**
 * The upload path as deployed, on loopback servers: s3rver for the bucket, dynalite for
 * RESULTS_TABLE, the Deepvue emulator, a PutEvents endpoint; `functions/s3-upload.ts` loaded as
 * a container would load it, output captured.
 */
export interface UploadPipeline {
  s3: S3Client;
  results: ResultsStore;
  deepvue: DeepvueEmulator;
  events: EventBridgeEndpoint;
  /** The upload queue: where waiting uploads are sent back to. */
  sqs: SqsEndpoint;
  /** Holds the key that signs verdicts (SIGNING_KEY_SECRET_ID). */
  secrets: SecretsManagerEndpoint;
  output: CapturedOutput;
  dynamo: RunningDynalite;
  s3Server: RunningS3;
  /** The environment the functions are loaded with. */
  env: Record<string, string | undefined>;
  handler(): UploadHandler;
  /** Stores `body` under `key` and returns what S3's event would say of it. */
  put(key: string, body: Uint8Array): Promise<StoredObject>;
  /** Invokes the handler with one SQS message per delivery. */
  deliver(deliveries: Delivery[], remainingMs?: number): Promise<SQSBatchResponse>;
  /** Liveness checks Deepvue received since the last `deepvue.clearCalls()`. */
  upstreamChecks(): number;
  restart(env?: Record<string, string | undefined>): Promise<void>;
  close(): Promise<void>;
}

let sequence = 0n;
/** Sequencers grow with every upload, as S3's do for one key. */
const nextSequencer = (): string => (BigInt(Date.now()) * 1000n + (sequence += 1n)).toString(16).toUpperCase();

export async function startUploadPipeline(env: Record<string, string | undefined> = {}): Promise<UploadPipeline> {
  const [deepvue, dynamo, s3Server, events, sqs, secrets] = await Promise.all([
    startDeepvueEmulator({ clients: { [CLIENT.id]: CLIENT.secret } }),
    startDynalite(),
    startS3rver([BUCKET]),
    startEventBridge(),
    startSqs({ queueName: QUEUE_NAME, maxReceiveCount: MAX_RECEIVE_COUNT, visibilityTimeoutSeconds: 180 }),
    startSecretsManager({ [SIGNING_KEY_SECRET_ID]: signingKeySecret() }),
  ]);
  await Promise.all([createTable(dynamo.endpoint, RESULTS_TABLE), createTable(dynamo.endpoint, TOKEN_TABLE)]);
  const output = captureOutput();
  const s3 = new S3Client(localS3Config(s3Server.endpoint));
  const resultsClient = new DynamoDBClient(localDynamoConfig(dynamo.endpoint));
  const results = new ResultsStore({ client: resultsClient, tableName: RESULTS_TABLE, retentionDays: 30 });
  // Every variable the relay or the SDK reads is set or cleared, so nothing leaks in from the shell.
  const baseEnv: Record<string, string | undefined> = {
    DEEPVUE_BASE_URL: deepvue.baseUrl,
    DEEPVUE_SECRET_ID: undefined,
    DEEPVUE_CLIENT_ID: CLIENT.id,
    DEEPVUE_CLIENT_SECRET: CLIENT.secret,
    AWS_ENDPOINT_URL_S3: s3Server.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: events.url,
    AWS_ENDPOINT_URL_SQS: sqs.url,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    SIGNING_KEY_SECRET_ID,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
    AWS_LAMBDA_FUNCTION_NAME: 's3Upload',
    IS_OFFLINE: undefined,
    IS_LOCAL: undefined,
    TOKEN_TABLE: undefined,
    RESULTS_TABLE,
    RESULTS_RETENTION_DAYS: '30',
    UPLOAD_BUCKET: BUCKET,
    UPLOAD_PREFIX: PREFIX,
    UPLOAD_MAX_RECEIVE_COUNT: String(MAX_RECEIVE_COUNT),
    KEEP_UPLOADS_HOURS: undefined,
    EVENT_BUS_NAME: 'liveness-test-bus',
    MAX_IMAGE_BYTES: undefined,
    UPSTREAM_DEADLINE_MS: '5000',
    DEEPVUE_RATE_LIMITS: undefined,
    DEEPVUE_RATE_CONTAINERS: undefined,
    DEEPVUE_RATE_MARGIN_MS: undefined,
    DEEPVUE_RATE_API_RESERVE_PERCENT: undefined,
    METRICS_NAMESPACE: 'LivenessRelayTest',
    POWERTOOLS_DEV: undefined,
    ...env,
  };
  const load = async (extra: Record<string, string | undefined>) =>
    (await loadFunction('s3-upload', { ...baseEnv, ...extra })) as unknown as UploadHandler;
  let handler = await load({});

  return {
    s3,
    results,
    deepvue,
    events,
    sqs,
    secrets,
    output,
    dynamo,
    s3Server,
    env: baseEnv,
    handler: () => handler,
    put: async (key, body) => {
      const { ETag: eTag } = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
      if (eTag === undefined) throw new Error('s3rver returned no ETag');
      return { bucket: BUCKET, key, eTag: eTag.replaceAll('"', ''), size: body.byteLength, sequencer: nextSequencer(), storedAt: new Date() };
    },
    deliver: async (deliveries, remainingMs = 30_000) => {
      const answer = await handler(sqsEvent(deliveries), lambdaContext(remainingMs));
      if (answer === undefined) throw new Error('the handler answered an SQS event without a batch response');
      return answer;
    },
    upstreamChecks: () => deepvue.calls('/v1/liveness-check').length,
    restart: async (extra = {}) => {
      handler = await load(extra);
    },
    close: async () => {
      output.restore();
      s3.destroy();
      resultsClient.destroy();
      await Promise.all([deepvue.close(), dynamo.close(), s3Server.close(), events.close(), sqs.close(), secrets.close()]);
    },
  };
}

/** An SQS event as Lambda's event source mapping delivers it: one message per delivery. */
export function sqsEvent(deliveries: Delivery[]): SQSEvent {
  return {
    Records: deliveries.map(({ object, receiveCount = 1, messageId = randomUUID() }) => ({
      messageId,
      receiptHandle: `handle-${messageId}`,
      body: JSON.stringify(objectCreatedEvent([object])),
      attributes: {
        ApproximateReceiveCount: String(receiveCount),
        SentTimestamp: String(Date.now()),
        SenderId: 'AIDAS3NOTIFICATIONS',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:us-east-1:123456789012:${QUEUE_NAME}`,
      awsRegion: 'us-east-1',
    })),
  };
}

/** The upload pipeline of the tests of a file or a `describe`, loaded with `env` (see useStarted). */
export function usePipeline(env: Record<string, string | undefined> = {}): UploadPipeline {
  return useStarted(() => startUploadPipeline(env));
}
