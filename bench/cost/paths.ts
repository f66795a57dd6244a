import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { objectCreatedEvent, type StoredObject } from '../../lib/uploads/notifications.ts';
import { restEvent } from '../../test/support/lambda.ts';
import { fixtureImage, secretValue } from '../../test/support/relay.ts';
import { DynamoRateStore } from '../../lib/rate-limit/dynamo-store.ts';
import { localDynamoConfig } from '../../test/support/dynalite.ts';
import { localS3Config, S3RVER_CREDENTIALS } from '../../test/support/s3rver.ts';
import { startEventBridge } from '../../test/support/eventbridge.ts';
import { signingKeySecret, startSecretsManager } from '../../test/support/secrets-manager.ts';
import { startSqs, type SqsEndpoint } from '../../test/support/sqs.ts';
import { startAwsServers } from '../aws-servers.ts';
import { emptyReplayTable } from '../replay.ts';
import { sendResult } from '../child.ts';
import { BENCH_CLIENT, startUpstream } from '../upstream.ts';
import { startAwsMeter, type AwsMeter } from './aws-meter.ts';
import { LambdaMeter, type FunctionUse } from './lambda-meter.ts';
import type { DeployedFunction, Service, TableDefinition } from './service.ts';
import { unitsOf, type Units } from './units.ts';

/** Days the bucket's lifecycle rule keeps an upload, as the deployment computes them from KEEP_UPLOADS_HOURS. */
const { uploadDays } = createRequire(import.meta.url)('../../deploy/retention.cjs') as {
  uploadDays: (variables: { resolveVariable: (name: string) => Promise<string> }) => Promise<number>;
};

/**
 * The paths a check can take, each played in a child process of its own against the stage's
 * configuration (serverless.yml, `serverless print`): the functions loaded from the sources as
 * new containers, the AWS services on loopback behind the meters (bench/cost/aws-meter.ts,
 * bench/cost/lambda-meter.ts), Deepvue's emulator in a process of its own. Each path is played
 * once to start its containers (its cold start, counted apart), then `checks` times.
 */
export const PATHS = [
  'api',
  'api-idempotency-key',
  'api-idempotent-replay',
  'api-rejected-input',
  'api-prescreen-pass',
  'api-prescreen-no-face',
  'api-starter-full-day',
  'api-replay-off',
  'api-replay-refused',
  'naive-api',
  'naive-repeated',
  'naive-rejected-input',
  'naive-no-face',
  'upload',
  'upload-kept-a-day',
  'upload-replay-off',
  'session',
] as const;
export type PathName = (typeof PATHS)[number];

export interface PathResult {
  path: PathName;
  checks: number;
  /** The `checks` warm checks together. */
  units: Units;
  /** The first check, its containers' init included. */
  cold: Units;
  /** The warm checks' use of each function. */
  functions: Record<string, FunctionUse>;
  /** The warm checks' requests by service and operation. */
  operations: Record<string, number>;
  /** What the last check was answered: its HTTP status and sub_code (or the upload's status). */
  answer: string;
  /** The custom metrics its EMF records named, each a name with one set of dimension values. */
  metricSeries: string[];
}

export interface PathOptions {
  path: PathName;
  checks: number;
  service: Service;
}

/** The photo every path checks: a real selfie, 100 KiB. */
const PHOTO = fixtureImage('face-480p.jpg');
const NO_FACE = fixtureImage('no-face-diagram.jpg');
/** A base64 string no decoder takes: the input the relay refuses itself. */
const NOT_BASE64 = 'data:image/jpeg;base64,!!not-base64!!';
const API_HOST = 'a1b2c3d4e5.execute-api.us-east-1.amazonaws.com';

/** The naive relay (bench/cost/naive-relay.ts), deployed as livenessCheck is. */
const naiveFunction = (service: Service): DeployedFunction => {
  const check = fn(service, 'livenessCheck');
  return {
    name: 'naiveRelay',
    deployedName: 'naive-relay-prod-check',
    memoryMb: check.memoryMb,
    environment: { DEEPVUE_BASE_URL: check.environment.DEEPVUE_BASE_URL ?? '', DEEPVUE_SECRET_ID: check.environment.DEEPVUE_SECRET_ID ?? '' },
    module: 'bench/cost/naive-relay.ts',
  };
};

function fn(service: Service, name: string): DeployedFunction {
  const found = service.functions[name];
  if (found === undefined) throw new Error(`serverless.yml has no function ${name}`);
  return found;
}

type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
type UploadHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** Variables a shell may hold that would change what a function does; cleared before every container. */
const CLEARED = ['IS_OFFLINE', 'IS_LOCAL', 'POWERTOOLS_DEV', 'POWERTOOLS_LOG_LEVEL', 'LOG_LEVEL', 'AWS_LAMBDA_LOG_LEVEL', 'AWS_PROFILE', 'AWS_SESSION_TOKEN', 'DEEPVUE_CLIENT_ID', 'DEEPVUE_CLIENT_SECRET'];

/** The services of one stage on loopback, metered, and the functions loaded against them. */
class Stack {
  readonly meter: AwsMeter;
  readonly lambda = new LambdaMeter();
  readonly sqs: SqsEndpoint;
  /** A client of the bucket as the relay's users have one (a backend's upload), counted. */
  readonly users: S3Client;
  /** The bucket read by the bench itself, not counted. */
  readonly bench: S3Client;
  /** The tables written by the bench itself (a state to start from), not counted. */
  readonly tables: DynamoDBClient;
  readonly #env: Record<string, string>;
  readonly #stop: () => Promise<void>;
  #containers = 0;

  private constructor(meter: AwsMeter, sqs: SqsEndpoint, env: Record<string, string>, endpoints: { s3: string; dynamodb: string }, stop: () => Promise<void>) {
    this.meter = meter;
    this.sqs = sqs;
    this.#env = env;
    this.tables = new DynamoDBClient(localDynamoConfig(endpoints.dynamodb));
    this.users = new S3Client({ ...localS3Config(meter.urls.s3 ?? ''), forcePathStyle: true });
    this.bench = new S3Client({ ...localS3Config(endpoints.s3), forcePathStyle: true });
    this.#stop = stop;
  }

  static async start(service: Service): Promise<Stack> {
    const stage = fn(service, 'livenessCheck').environment;
    const need = (name: string) => {
      const value = stage[name];
      if (value === undefined || value === '') throw new Error(`the stage sets no ${name}`);
      return value;
    };
    const [upstream, aws, secrets, events, sqs] = await Promise.all([
      startUpstream(),
      startAwsServers([], [need('UPLOAD_BUCKET')]),
      startSecretsManager({ [need('DEEPVUE_SECRET_ID')]: secretValue(BENCH_CLIENT.id, BENCH_CLIENT.secret), [need('SIGNING_KEY_SECRET_ID')]: signingKeySecret() }),
      startEventBridge(),
      startSqs({ queueName: 'uploads', maxReceiveCount: Number(stage.UPLOAD_MAX_RECEIVE_COUNT ?? 5), visibilityTimeoutSeconds: 180 }),
    ]);
    await createTables(aws.dynamoEndpoint, service.tables);
    const meter = await startAwsMeter({
      dynamodb: aws.dynamoEndpoint,
      s3: aws.s3Endpoint,
      secretsManager: secrets.url,
      sqs: sqs.url,
      eventBridge: events.url,
      deepvue: upstream.baseUrl,
    });
    const awsEnv = {
      DEEPVUE_BASE_URL: meter.urls.deepvue ?? '',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      // As Lambda sets it for on-demand containers: Powertools then writes cold_start true on the first invocation.
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_ENDPOINT_URL_DYNAMODB: meter.urls.dynamodb ?? '',
      AWS_ENDPOINT_URL_S3: meter.urls.s3 ?? '',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: meter.urls.secretsManager ?? '',
      AWS_ENDPOINT_URL_SQS: meter.urls.sqs ?? '',
      AWS_ENDPOINT_URL_EVENTBRIDGE: meter.urls.eventBridge ?? '',
      // Any other service would be called here, and fail, rather than leave the machine.
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    };
    return new Stack(meter, sqs, awsEnv, { s3: aws.s3Endpoint, dynamodb: aws.dynamoEndpoint }, async () => {
      upstream.stop();
      aws.stop();
      await Promise.all([secrets.close(), events.close(), sqs.close(), meter.close()]);
    });
  }

  /** A new container of `fn`: its module imported afresh with its environment, its init counted. */
  async load<T>(deployed: DeployedFunction): Promise<T> {
    for (const name of CLEARED) delete process.env[name];
    Object.assign(process.env, deployed.environment, this.#env, { AWS_LAMBDA_FUNCTION_NAME: deployed.deployedName });
    // The pre-screen's and the pixel decoder's packages are found beside the sources, which the bench runs, not in /var/task.
    delete process.env.PRESCREEN_MODULE;
    delete process.env.PIXEL_DECODER_MODULE;
    this.#containers += 1;
    const module = await this.lambda.init(deployed, () => import(`../../${deployed.module}?container=${this.#containers}`) as Promise<{ handler: T }>);
    return module.handler;
  }

  /** Bytes of the uploads still in the bucket. */
  async storedBytes(bucket: string): Promise<number> {
    const listed = await this.bench.send(new ListObjectsV2Command({ Bucket: bucket }));
    return (listed.Contents ?? []).reduce((sum, object) => sum + (object.Size ?? 0), 0);
  }

  /** What was counted since the last take. */
  take(storedByteHours = 0): { units: Units; functions: Record<string, FunctionUse>; operations: Record<string, number> } {
    const aws = this.meter.take();
    const functions = this.lambda.take();
    return { units: unitsOf(aws, functions, storedByteHours), functions, operations: aws.operations };
  }

  async close(): Promise<void> {
    this.users.destroy();
    this.bench.destroy();
    this.tables.destroy();
    this.lambda.close();
    await this.#stop();
  }
}

/** The stack's tables, each with its own keys. */
async function createTables(endpoint: string, tables: TableDefinition[]): Promise<void> {
  const client = new DynamoDBClient(localDynamoConfig(endpoint));
  try {
    for (const table of tables) await client.send(new CreateTableCommand({ ...table, BillingMode: 'PAY_PER_REQUEST' }));
  } finally {
    client.destroy();
  }
}

/** API Gateway's event for a request of the relay's API: the headers a client and API Gateway send. */
function apiEvent(method: string, resource: string, options: { path?: string; body?: string | null; pathParameters?: Record<string, string>; headers?: Record<string, string> } = {}): APIGatewayProxyEvent {
  const path = options.path ?? resource;
  const headers = {
    Accept: '*/*',
    'Accept-Encoding': 'gzip, deflate, br',
    'CloudFront-Forwarded-Proto': 'https',
    Host: API_HOST,
    'User-Agent': 'kyc-backend/1.0',
    'X-Amzn-Trace-Id': `Root=1-6756a1b2-${randomUUID().replaceAll('-', '').slice(0, 24)}`,
    'X-Forwarded-For': '203.0.113.7',
    'X-Forwarded-Port': '443',
    'X-Forwarded-Proto': 'https',
    ...(options.body === undefined || options.body === null ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(options.body)) }),
    ...options.headers,
  };
  const event = restEvent(method, path, { body: options.body ?? null, headers });
  return {
    ...event,
    resource,
    pathParameters: options.pathParameters ?? null,
    requestContext: { ...event.requestContext, resourcePath: resource, path: `/prod${path}`, stage: 'prod', domainName: API_HOST },
  };
}

const checkBody = (image: Buffer | string) => JSON.stringify({ image: typeof image === 'string' ? image : image.toString('base64') });
const answered = (result: APIGatewayProxyResult) => `${result.statusCode} ${String((JSON.parse(result.body) as { sub_code?: unknown }).sub_code ?? '')}`;

/** One check of a path: what it does, and what it was answered. */
type Check = (index: number) => Promise<string>;

/** Sets up the path's containers and returns its check. */
async function pathCheck(stack: Stack, options: PathOptions): Promise<Check> {
  const { service, path } = options;
  if (path.startsWith('naive-')) {
    const naive = naiveFunction(service);
    const handler = await stack.load<ApiHandler>(naive);
    const body = path === 'naive-rejected-input' ? checkBody(NOT_BASE64) : checkBody(path === 'naive-no-face' ? NO_FACE : PHOTO);
    return async () => answered(await stack.lambda.invoke<APIGatewayProxyResult>(naive, handler, apiEvent('POST', '/v1/liveness-check', { body }), { api: true }));
  }
  if (path.startsWith('api')) {
    const check = configured(service, 'livenessCheck', path);
    if (path === 'api-starter-full-day') await seedDayOfCalls(stack, check);
    const handler = await stack.load<ApiHandler>(check);
    const image = path === 'api-rejected-input' ? NOT_BASE64 : path === 'api-prescreen-no-face' ? NO_FACE : PHOTO;
    const replayedKey = randomUUID();
    return async () => {
      const key = path === 'api-idempotency-key' ? randomUUID() : path === 'api-idempotent-replay' ? replayedKey : undefined;
      const event = apiEvent('POST', '/v1/liveness-check', { body: checkBody(image), headers: key === undefined ? {} : { 'Idempotency-Key': key } });
      return answered(await stack.lambda.invoke<APIGatewayProxyResult>(check, handler, event, { api: true }));
    };
  }
  if (path.startsWith('upload')) return uploadCheck(stack, service, path);
  return sessionCheck(stack, service, path);
}

/** The settings a path measures, over the stage's. */
const SETTINGS: Partial<Record<PathName, Record<string, string>>> = {
  'api-prescreen-pass': { PRESCREEN: 'on' },
  'api-prescreen-no-face': { PRESCREEN: 'on' },
  'api-starter-full-day': { DEEPVUE_RATE_LIMITS: 'starter' },
  'upload-kept-a-day': { KEEP_UPLOADS_HOURS: '24' },
  'api-replay-off': { REPLAY_POLICY: 'off' },
  'api-replay-refused': { REPLAY_POLICY: 'refuse' },
  'upload-replay-off': { REPLAY_POLICY: 'off' },
};

/** Function `name` of the stage, with the settings `path` measures. */
function configured(service: Service, name: string, path: PathName): DeployedFunction {
  const deployed = fn(service, name);
  return { ...deployed, environment: { ...deployed.environment, ...SETTINGS[path] } };
}

/**
 * Starter admits one call a second, and the limiter widens the window by its margin and stamps a
 * grant ahead by its write's latency: two seconds apart, no check waits (and reads again).
 */
export const pauseBetweenChecks = (path: PathName): number => (path === 'api-starter-full-day' ? 2000 : 100);

/** Calls of the last day in the limiter's item before the path's own: Starter allows 1,000 a day. */
export const STARTER_DAY_CALLS = 970;

/**
 * The limiter's item as a day of Starter's traffic leaves it: every call of the last day is kept
 * (its longest window), spread over 23 hours and none in the last five minutes, so that the
 * second and minute windows are free. Written through the limiter's own store, for the plan's
 * subject (the upstream and the client_id, lib/container/check-deps.ts).
 */
async function seedDayOfCalls(stack: Stack, check: DeployedFunction): Promise<void> {
  const store = new DynamoRateStore({ client: stack.tables, tableName: check.environment.TOKEN_TABLE ?? '' });
  const now = Date.now();
  const spreadMs = 23 * 60 * 60 * 1000;
  const grants = Array.from({ length: STARTER_DAY_CALLS }, (_, index) => now - 5 * 60 * 1000 - Math.round((spreadMs * (STARTER_DAY_CALLS - index)) / STARTER_DAY_CALLS));
  if (!(await store.commit(`${stack.meter.urls.deepvue ?? ''}\n${BENCH_CLIENT.id}`, 0, grants))) throw new Error('the limiter\'s item already existed');
}

/** What AWS does between an object's arrival and s3Upload: S3's notification to the queue, Lambda's poller receiving it, the invocation, the poller deleting it. */
async function deliver(stack: Stack, s3Upload: DeployedFunction, handler: UploadHandler, object: StoredObject): Promise<void> {
  stack.sqs.enqueue(JSON.stringify(objectCreatedEvent([object])));
  stack.meter.add('sqsRequests', 'sqs SendMessage (S3 notification)');
  const records = stack.sqs.receive(10);
  stack.meter.add('sqsRequests', 'sqs ReceiveMessage (Lambda poller)');
  const answer = await stack.lambda.invoke<SQSBatchResponse>(s3Upload, handler, { Records: records }, { timeoutMs: 30_000 });
  const failed = new Set(answer.batchItemFailures.map((failure) => failure.itemIdentifier));
  stack.sqs.settle(records, failed);
  if (failed.size < records.length) stack.meter.add('sqsRequests', 'sqs DeleteMessageBatch (Lambda poller)');
}

let sequence = 0;
/** The object as S3's event names it (read from the bench's side, not counted). */
async function stored(stack: Stack, bucket: string, key: string, eventName: string): Promise<StoredObject> {
  const head = await stack.bench.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  sequence += 1;
  return {
    bucket,
    key,
    eTag: (head.ETag ?? '').replaceAll('"', ''),
    size: head.ContentLength ?? 0,
    sequencer: (0x10000 + sequence).toString(16).toUpperCase(),
    ...(head.VersionId === undefined || head.VersionId === 'null' ? {} : { versionId: head.VersionId }),
    eventName,
    storedAt: head.LastModified ?? new Date(),
  };
}

/** A plain upload: the user's backend puts the photo under the prefix, s3Upload checks it, the backend reads the result. */
async function uploadCheck(stack: Stack, service: Service, path: PathName): Promise<Check> {
  const s3Upload = configured(service, 's3Upload', path);
  const result = configured(service, 'livenessResult', path);
  const bucket = s3Upload.environment.UPLOAD_BUCKET ?? '';
  const prefix = s3Upload.environment.UPLOAD_PREFIX ?? 'uploads/';
  const check = await stack.load<UploadHandler>(s3Upload);
  const read = await stack.load<ApiHandler>(result);
  return async () => {
    const key = `${prefix}kyc/${randomUUID()}.jpg`;
    await stack.users.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: PHOTO, ContentType: 'image/jpeg' }));
    await deliver(stack, s3Upload, check, await stored(stack, bucket, key, 'ObjectCreated:Put'));
    const encoded = encodeURIComponent(key);
    const answer = await stack.lambda.invoke<APIGatewayProxyResult>(result, read, apiEvent('GET', '/v1/liveness-results/{key+}', { path: `/v1/liveness-results/${encoded}`, pathParameters: { key: encoded } }), { api: true, timeoutMs: 10_000 });
    return `${answer.statusCode} ${String((JSON.parse(answer.body) as { status?: unknown }).status ?? '')}`;
  };
}

/**
 * A liveness session: the backend opens it; the user's browser opens the capture page, which
 * reads the session's progress and loads its face detector's files; it asks for the upload form
 * and posts the photo to S3; s3Upload checks it; the page polls the progress twice (at once,
 * then when done: the fewest polls a page makes, when the check takes under half a second); the
 * backend reads the verdict.
 */
async function sessionCheck(stack: Stack, service: Service, path: PathName): Promise<Check> {
  const sessions = configured(service, 'livenessSessions', path);
  const capture = configured(service, 'capturePage', path);
  const s3Upload = configured(service, 's3Upload', path);
  const bucket = s3Upload.environment.UPLOAD_BUCKET ?? '';
  // Built by `npm run build:page` (the bench's and the tests' pre-scripts), as capturePage is.
  const page = JSON.parse(readFileSync(new URL('../../.build/capture-page.json', import.meta.url), 'utf8')) as { assets: Record<string, unknown> };
  const [route, pageHandler, check] = [await stack.load<ApiHandler>(sessions), await stack.load<ApiHandler>(capture), await stack.load<UploadHandler>(s3Upload)];
  const call = async (method: string, resource: string, id: string | undefined, body: string | null = null) => {
    const path = id === undefined ? resource : resource.replace('{id}', id);
    const event = apiEvent(method, resource, { path, body, ...(id === undefined ? {} : { pathParameters: { id } }) });
    const answer = await stack.lambda.invoke<APIGatewayProxyResult>(sessions, route, event, { api: true, timeoutMs: 10_000 });
    return JSON.parse(answer.body) as Record<string, unknown>;
  };
  const browser = (resource: string, pathParameters?: Record<string, string>) =>
    stack.lambda.invoke<APIGatewayProxyResult>(capture, pageHandler, apiEvent('GET', resource, { path: resource.replace('{file}', pathParameters?.file ?? ''), ...(pathParameters === undefined ? {} : { pathParameters }) }), { api: true, timeoutMs: 5000 });
  return async () => {
    const opened = await call('POST', '/v1/liveness-sessions', undefined, JSON.stringify({ reference: `kyc-${randomUUID()}` }));
    const id = String(opened.session_id);
    await browser('/capture');
    await call('GET', '/v1/liveness-sessions/{id}/progress', id);
    for (const file of Object.keys(page.assets)) await browser('/capture/assets/{file}', { file });
    const form = (await call('POST', '/v1/liveness-sessions/{id}/upload', id, JSON.stringify({ content_type: 'image/jpeg' }))) as { url: string; fields: Record<string, string> };
    const data = new FormData();
    for (const [name, value] of Object.entries(form.fields)) data.append(name, value);
    data.append('file', new Blob([PHOTO], { type: 'image/jpeg' }), 'selfie.jpg');
    const posted = await fetch(form.url, { method: 'POST', body: data });
    await posted.arrayBuffer();
    if (!posted.ok) throw new Error(`the presigned POST was answered ${posted.status}`);
    await call('GET', '/v1/liveness-sessions/{id}/progress', id);
    await deliver(stack, s3Upload, check, await stored(stack, bucket, form.fields.key ?? '', 'ObjectCreated:Post'));
    const progress = await call('GET', '/v1/liveness-sessions/{id}/progress', id);
    const read = await call('GET', '/v1/liveness-sessions/{id}', id);
    return `${String(progress.status)} ${String((read.result as { sub_code?: unknown } | undefined)?.sub_code ?? read.status)}`;
  };
}

export async function measurePath(options: PathOptions): Promise<PathResult> {
  const stack = await Stack.start(options.service);
  try {
    const s3Upload = configured(options.service, 's3Upload', options.path);
    const bucket = s3Upload.environment.UPLOAD_BUCKET ?? '';
    const keptHours = 24 * (await uploadDays({ resolveVariable: async () => s3Upload.environment.KEEP_UPLOADS_HOURS ?? '0' }));
    const check = await pathCheck(stack, options);
    // Every check a first check of its photo, as most are: the replay table emptied (uncounted) before each.
    // A refused replay's photo was checked before: by the check that started the containers.
    const replayTable = configured(options.service, 'livenessCheck', options.path).environment.REPLAY_TABLE;
    const firstCheck = async (index: number) => {
      if (replayTable !== undefined && replayTable !== '' && (index === 0 || options.path !== 'api-replay-refused')) await emptyReplayTable(stack.tables, replayTable);
      return check(index);
    };
    let answer = await firstCheck(0);
    // What a check writes after its answer (the replay step's note) lands before its counts are taken.
    const afterAnswer = () => sleep(pauseBetweenChecks(options.path));
    await afterAnswer();
    const cold = stack.take(keptHours * (await stack.storedBytes(bucket))).units;
    const before = await stack.storedBytes(bucket);
    for (let index = 1; index <= options.checks; index += 1) {
      // Below the plan's rate, so that the limiter never makes a check wait (and read again).
      await sleep(pauseBetweenChecks(options.path));
      answer = await firstCheck(index);
    }
    await afterAnswer();
    const warm = stack.take(keptHours * ((await stack.storedBytes(bucket)) - before));
    if (options.path === 'api-starter-full-day' && warm.units.dynamoWriteUnits < 2 * options.checks) {
      throw new Error('the checks did not meet the seeded day of calls: has the limiter\'s subject changed (lib/container/check-deps.ts)?');
    }
    return { path: options.path, checks: options.checks, ...warm, cold, answer, metricSeries: stack.lambda.metricSeries() };
  } finally {
    await stack.close();
  }
}

if (import.meta.main) {
  sendResult(await measurePath(JSON.parse(process.argv[2] ?? '{}') as PathOptions));
}
