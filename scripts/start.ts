/**
 * `npm start`: the relay on http://127.0.0.1:$PORT (default 3000), every route of serverless.yml
 * with no stage prefix and no API key, its handlers run in this process from their TypeScript
 * sources; and the upload path on the same machine: an embedded S3-compatible server whose object
 * events go through an in-process upload queue to the same `s3Upload` handler, and an embedded
 * DynamoDB-compatible server for the token and results tables.
 *
 * serverless.yml is read as the framework resolves it for stage `local` (`serverless print`): the
 * functions, their `http` events, the environment handed to them, the bucket's notifications and
 * the queue's settings. The local stage's environment follows this process's environment (see
 * `params.local` there), so every variable of docs/configuration.md applies here.
 *
 * DynamoDB: when the environment names neither TOKEN_TABLE nor RESULTS_TABLE, both tables are
 * created on AWS_ENDPOINT_URL_DYNAMODB if that is set, else on an embedded dynalite (in memory).
 * S3: unless AWS_ENDPOINT_URL_S3 points elsewhere, an embedded s3rver with UPLOAD_BUCKET (default
 * `liveness-relay-local-uploads`), its objects in a temporary folder removed at stop.
 * Deepvue: DEEPVUE_SECRET_ID, or DEEPVUE_CLIENT_ID + DEEPVUE_CLIENT_SECRET; with neither, the
 * built-in sandbox answers (header `x-liveness-provider: sandbox`).
 *
 * Everything listens on 127.0.0.1 only. Ctrl+C (SIGINT) or SIGTERM stops it all.
 */
// First: what Lambda's runtime provides, read by Powertools as lib/ is loaded.
import './local/runtime.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { readConfig } from '../lib/container/config.ts';
import { describeError, logger } from '../lib/platform/logger.ts';
import { RelayMetrics } from '../lib/platform/metrics.ts';
import { providerFor } from '../lib/container/check-deps.ts';
import { generatedSigningKey } from '../lib/evidence/keys.ts';
import { startPrescreen } from '../lib/prescreen/loader.ts';
import { objectCreatedEvent } from '../lib/uploads/notifications.ts';
import { MAX_BODY_BYTES, REQUEST_TIMEOUT_MS, startApiHost, type ApiFunction, type ApiHost } from './local/api-host.ts';
import { ensureTable, startLocalDynamo, type LocalDynamo } from './local/dynamo.ts';
import { loadHandler, type LambdaHandler } from './local/lambda.ts';
import { mockIntegration } from './local/mock-integration.ts';
import { DOCS_PATH, DOCUMENT_PATH, referencePages } from './local/reference.ts';
import { useLocalCredentials } from './local/credentials.ts';
import { allowBrowserUploads, startLocalS3, type LocalS3 } from './local/s3.ts';
import { asLambdaFunction } from './local/runtime.ts';
import { notifies, printService, readService } from './local/service.ts';
import { removeStackState, writeStackState } from './local/state.ts';
import { LocalQueue } from './local/upload-queue.ts';

const HOST = '127.0.0.1';
const STAGE = 'local';
const DEFAULT_TOKEN_TABLE = 'liveness-relay-local-tokens';
const DEFAULT_RESULTS_TABLE = 'liveness-relay-local-results';
/** Also the bucket of `npm run upload` on its own, so the two agree without configuration. */
const DEFAULT_UPLOAD_BUCKET = 'liveness-relay-local-uploads';
/** The route whose answers are finished checks, counted by the LivenessCheck metric. */
const CHECK_ROUTE = { method: 'POST', path: '/v1/liveness-check' } as const;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const env = process.env;

const say = (message: string): void => {
  process.stderr.write(`[start] ${message}\n`);
};

const isSet = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';

function wholeNumber(name: string, fallback: number, minimum: number, maximum = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (!isSet(raw)) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < minimum || value > maximum) {
    throw new Error(`${name} must be a whole number from ${minimum} to ${maximum}, got "${raw}"`);
  }
  return value;
}

/** What to undo at stop, in reverse order of starting. */
const stops: Array<() => Promise<void> | void> = [];
let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const step of stops.reverse()) {
      try {
        await step();
      } catch (error) {
        say(`while stopping: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  process.exit(code);
}

async function main(): Promise<void> {
  const port = wholeNumber('PORT', 3000, 0, 65535);
  const limits = {
    concurrency: wholeNumber('LOCAL_CONCURRENCY', 10, 1),
    queueLength: wholeNumber('LOCAL_QUEUE_LENGTH', 30, 0),
    // A queue smooths a spike; a caller waiting longer than this is better told to retry.
    maxWaitMs: wholeNumber('LOCAL_QUEUE_WAIT_MS', 1000, 1),
  };
  const uploadRetrySeconds = wholeNumber('LOCAL_UPLOAD_RETRY_SECONDS', 10, 0);

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0));
  // `npm start` runs this under `sh -c`; a SIGTERM sent to npm reaches that shell, which may die
  // without passing it on. Stop when the parent goes away rather than outlive it.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void stop(0);
  }, 250).unref();

  env.AWS_REGION = isSet(env.AWS_REGION) ? env.AWS_REGION : isSet(env.AWS_DEFAULT_REGION) ? env.AWS_DEFAULT_REGION : 'us-east-1';
  // A local run: the handlers may start the sandbox when Deepvue is not configured.
  env.IS_LOCAL = 'true';
  if (!isSet(env.UPLOAD_BUCKET)) env.UPLOAD_BUCKET = DEFAULT_UPLOAD_BUCKET;
  const localTables = !isSet(env.TOKEN_TABLE) && !isSet(env.RESULTS_TABLE);
  if (localTables) {
    env.TOKEN_TABLE = DEFAULT_TOKEN_TABLE;
    env.RESULTS_TABLE = DEFAULT_RESULTS_TABLE;
  }
  const embedDynamo = localTables && !isSet(env.AWS_ENDPOINT_URL_DYNAMODB);
  const embedS3 = !isSet(env.AWS_ENDPOINT_URL_S3);

  // serverless.yml as the framework resolves it, while the embedded servers start.
  const printed = printService(repoRoot, STAGE, env);
  // Awaited below; this only keeps a failure from counting as unhandled while the servers start.
  printed.catch(() => undefined);
  let dynamo: LocalDynamo | undefined;
  if (embedDynamo) {
    dynamo = await startLocalDynamo();
    stops.push(() => dynamo?.close());
    env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  }
  const bucket = env.UPLOAD_BUCKET;
  let s3: LocalS3 | undefined;
  let s3Directory: string | undefined;
  if (embedS3) {
    s3Directory = mkdtempSync(join(tmpdir(), 'liveness-relay-s3-'));
    s3 = await startLocalS3({ directory: s3Directory, buckets: [bucket], removeOnClose: true });
    stops.push(() => s3?.close());
    env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
  }
  // Once the endpoints are known, before any client exists.
  const credentials = useLocalCredentials(env);
  if (localTables) {
    const client = new DynamoDBClient({});
    try {
      await ensureTable(client, DEFAULT_TOKEN_TABLE);
      await ensureTable(client, DEFAULT_RESULTS_TABLE);
    } finally {
      client.destroy();
    }
  }

  const service = readService(await printed);
  // The functions' environment as serverless.yml gives it (NODE_OPTIONS configures a runtime, not this one).
  for (const [name, value] of Object.entries(service.environment)) if (name !== 'NODE_OPTIONS') env[name] = value;
  const config = readConfig();

  // The handlers read their configuration at import, capture_url's origin included: npm start's own,
  // known once the host listens (PORT may be 0). So they are imported then, and a request arriving
  // before waits for its function, as on a cold start.
  const invoked = service.routes.filter((route) => route.mock === undefined);
  const used = new Set([...invoked.map((route) => route.functionKey), ...service.queueSources.map((source) => source.functionKey)]);
  for (const key of used) if (!service.functions.has(key)) throw new Error(`serverless config: no function ${key}`);
  const handlers = Promise.withResolvers<Map<string, LambdaHandler>>();
  // Awaited below; this only keeps a failed import from counting as unhandled when no request waits.
  handlers.promise.catch(() => undefined);
  const apiFunction = (key: string): ApiFunction => ({
    settings: service.functions.get(key)!,
    handler: async (event, context) => (await handlers.promise).get(key)!(event, context),
  });

  const provider = providerFor(config);
  let host: ApiHost;
  try {
    host = await startApiHost({
      host: HOST,
      port,
      stage: STAGE,
      routes: service.routes.map(({ method, path, cors, mock, functionKey }) =>
        mock === undefined ? { method, path, cors, fn: apiFunction(functionKey) } : { method, path, cors, mock: mockIntegration(mock) },
      ),
      limits,
      binaryMediaTypes: service.binaryMediaTypes,
      checkRoute: { ...CHECK_ROUTE, metrics: new RelayMetrics({ namespace: config.metricsNamespace }), provider },
      region: env.AWS_REGION,
      log: say,
      pages: referencePages(join(repoRoot, 'docs', 'openapi.yaml')),
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === 'EADDRINUSE' ? `port ${port} is in use: stop what runs there, or set PORT` : String(error));
  }
  stops.push(() => host.close());
  const listening = Number(new URL(host.url).port);
  // capture_url is configuration, never a request's Host: CAPTURE_PAGE_URL, else this server's page.
  if (!isSet(env.CAPTURE_PAGE_URL)) env.CAPTURE_PAGE_URL = `${host.url}/capture`;
  handlers.resolve((async () => {
    const loaded = new Map<string, LambdaHandler>();
    for (const key of used) loaded.set(key, asLambdaFunction(await loadHandler(repoRoot, service.functions.get(key)!.handler), logger));
    return loaded;
  })());
  const loadedHandlers = await handlers.promise;
  // Started with the handlers, which share it; awaited so that the banner tells whether it runs.
  const prescreenProblem = config.prescreen ? await startPrescreen(config.prescreenModule).then(() => undefined, describeError) : undefined;
  // Browsers on npm start's own origins (the capture page) may POST presigned uploads to the bucket.
  const origins = [`http://${HOST}:${listening}`, `http://localhost:${listening}`];
  // The deployed bucket's CORS rules (its origin is the API's), for npm start's own origins.
  const uploadBucketCors = service.bucketCors.filter((rule) => rule.bucket === bucket);
  if (s3 !== undefined) await allowBrowserUploads(s3.endpoint, bucket, uploadBucketCors, origins);

  // Uploads: the bucket's notifications (from serverless.yml) feed the queues, the queues the functions.
  const queues = new Map<string, LocalQueue>();
  for (const source of service.queueSources) {
    const queue = new LocalQueue({
      source,
      fn: service.functions.get(source.functionKey)!,
      handler: loadedHandlers.get(source.functionKey)!,
      retryDelayMs: uploadRetrySeconds * 1000,
      region: env.AWS_REGION,
      log: say,
    });
    queues.set(source.queue, queue);
    stops.push(() => queue.close());
  }
  const notifications = service.bucketNotifications.filter((notification) => notification.bucket === bucket);
  s3?.onObjectEvent((event) => {
    // S3 refuses overlapping notification configurations, so at most one matches an event.
    const notification = notifications.find((candidate) => candidate.bucket === event.bucket && notifies(candidate, event.eventName, event.key));
    const queue = notification === undefined ? undefined : queues.get(notification.queue);
    queue?.send(JSON.stringify(objectCreatedEvent([{ ...event, eTag: event.eTag.replaceAll('"', '') }])));
  });

  writeStackState(repoRoot, listening, {
    pid: process.pid,
    url: host.url,
    s3: s3 === undefined ? undefined : { endpoint: s3.endpoint, bucket, uploadPrefix: config.uploadPrefix },
  });
  stops.push(() => removeStackState(repoRoot, listening));

  // What a user needs to know, once.
  const width = Math.max(...service.routes.map((route) => route.method.length));
  say(`liveness-relay on ${host.url} (stage ${STAGE}: no API key, no stage prefix)`);
  for (const route of service.routes) {
    say(`  ${route.method.padEnd(width)} ${host.url}${route.path}  → ${route.mock === undefined ? route.functionKey : 'answered by API Gateway (mock integration)'}`);
  }
  say(`API reference (npm start only): ${host.url}${DOCS_PATH} (${host.url}/ leads there), the OpenAPI document at ${host.url}${DOCUMENT_PATH}`);
  if (provider === 'sandbox') {
    say('Deepvue: NOT configured (no DEEPVUE_SECRET_ID, no DEEPVUE_CLIENT_ID + DEEPVUE_CLIENT_SECRET): answering from the built-in SANDBOX (header x-liveness-provider: sandbox)');
  } else if (config.secretId !== undefined) {
    say(`Deepvue: ${config.deepvueBaseUrl}, credentials from Secrets Manager secret ${config.secretId}`);
  } else {
    say(`Deepvue: ${config.deepvueBaseUrl}, client ${config.clientId} from the environment`);
  }
  if (!config.prescreen) say('Pre-screen: off (PRESCREEN=on to count and measure faces before a paid call)');
  else if (prescreenProblem === undefined) say('Pre-screen: ON (PRESCREEN=on): no face, several faces or a face too small are answered without a paid call (header x-liveness-provider: prescreen)');
  else say(`Pre-screen: NOT RUNNING although PRESCREEN=on: it could not start (${prescreenProblem}); every image goes to Deepvue unscreened`);
  // The handlers run in this process and share its generated key: the one named here.
  say(config.signingKeySecretId === undefined
    ? `Signing: no SIGNING_KEY_SECRET_ID: verdicts are signed with a key generated at start (kid ${generatedSigningKey().kid}), published at ${host.url}/.well-known/jwks.json; it ends with this process`
    : `Signing: verdicts are signed with the key of Secrets Manager secret ${config.signingKeySecretId}, published at ${host.url}/.well-known/jwks.json`);
  say(`DynamoDB: tables ${config.tokenTable ?? '(none: token kept in memory)'} and ${config.resultsTable ?? '(none)'}` +
    (dynamo ? ` on embedded dynalite ${dynamo.endpoint} (in memory)` : isSet(env.AWS_ENDPOINT_URL_DYNAMODB) ? ` on ${env.AWS_ENDPOINT_URL_DYNAMODB}` : ' in AWS'));
  if (s3 !== undefined) {
    const suffixes = [...new Set(notifications.map((notification) => notification.suffix).filter(Boolean))].join(' ');
    const cors = uploadBucketCors.map((rule) => `${rule.methods.join(' ')} from ${origins.join(', ')}`).join('; ') || 'none';
    say(`S3: bucket ${bucket} on embedded s3rver ${s3.endpoint} (objects in ${s3Directory}, removed at stop; CORS as serverless.yml's: ${cors})`);
    say(`Uploads: objects under ${config.uploadPrefix}${suffixes === '' ? '' : ` ending ${suffixes}`} are checked by ${service.queueSources.map((source) => source.functionKey).join(', ')} (failed ones retried every ${uploadRetrySeconds} s), ${config.keepUploadsHours === 0 ? 'then deleted (KEEP_UPLOADS_HOURS=<hours> keeps them)' : `then kept (KEEP_UPLOADS_HOURS=${config.keepUploadsHours}: no lifecycle rule deletes them here)`}`);
    say(`  try: npm run upload -- test/fixtures/images/face.png   then: curl ${host.url}/v1/liveness-results/${config.uploadPrefix}face.png`);
  } else {
    say(`S3: bucket ${bucket} on ${env.AWS_ENDPOINT_URL_S3}; its object events do not reach this process (use npm run upload, which invokes s3Upload itself)`);
  }
  say(credentials);
  say(`Limits per function: ${limits.concurrency} invocations in flight, ${limits.queueLength} waiting (at most ${limits.maxWaitMs / 1000} s), then 429 RATE_LIMITED; bodies up to ${MAX_BODY_BYTES / 1024 / 1024} MiB; a request must arrive within ${REQUEST_TIMEOUT_MS / 1000} s`);
  say(`ready in ${(performance.now() / 1000).toFixed(1)} s. Stop with Ctrl+C.`);
}

main().catch((error: unknown) => {
  say(`failed: ${error instanceof Error ? error.message : String(error)}`);
  void stop(1);
});
