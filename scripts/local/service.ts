import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import type { FunctionSettings } from './lambda.ts';
import type { MockIntegration, MockIntegrationResponse } from './mock-integration.ts';

/**
 * What `npm start` serves, read from serverless.yml as the framework resolves it for stage
 * `local` (`serverless print`): the functions with their http events, the environment handed to
 * them, and the upload wiring (bucket notifications → queue → function). serverless.yml stays the
 * one source of routes: a function added there with an `http` event is served at the next start.
 */
export interface LocalService {
  functions: Map<string, LocalFunction>;
  routes: HttpRoute[];
  /** provider.environment merged with every function's own `environment`. */
  environment: Record<string, string>;
  /** Content types API Gateway hands the functions base64-encoded (provider.apiGateway.binaryMediaTypes). */
  binaryMediaTypes: string[];
  /** Functions fed by an SQS queue of this stack, with the queue's delivery settings. */
  queueSources: QueueSource[];
  /** Buckets of this stack whose object events notify one of its queues. */
  bucketNotifications: BucketNotification[];
  /** The CORS rules of this stack's buckets, their origins left out (they name the deployed API). */
  bucketCors: BucketCors[];
}

/** A bucket's CORS rule as serverless.yml writes it, without its origins. */
export interface BucketCors {
  bucket: string;
  methods: string[];
  headers: string[];
  maxAgeSeconds: number | undefined;
}

export interface LocalFunction extends FunctionSettings {
  /** e.g. `functions/liveness-check.handler` */
  handler: string;
}

/** One `http` event: `method` is upper case, or `ANY`; `path` as written, e.g. `/v1/liveness-results/{key+}`. */
export interface HttpRoute {
  functionKey: string;
  method: string;
  path: string;
  cors: CorsSettings | undefined;
  /** Set for `integration: mock`: API Gateway answers the route itself and `functionKey`'s function is never invoked. */
  mock: MockIntegration | undefined;
}

/** The CORS preflight API Gateway answers for an `http` event with `cors` (the framework's defaults). */
export interface CorsSettings {
  origins: string[];
  headers: string[];
  allowCredentials: boolean;
}

export interface QueueSource {
  /** Logical id of the AWS::SQS::Queue resource. */
  queue: string;
  queueName: string;
  functionKey: string;
  batchSize: number;
  maximumConcurrency: number;
  /** The redrive policy's maxReceiveCount: receives before a message goes to the dead-letter queue. */
  maxReceiveCount: number;
}

export interface BucketNotification {
  bucket: string;
  /** Logical id of the notified queue. */
  queue: string;
  /** e.g. `s3:ObjectCreated:*` */
  event: string;
  prefix: string;
  suffix: string;
}

const serverlessBin = createRequire(import.meta.url).resolve('osls/bin/serverless.js');

/**
 * The framework's resolved view of serverless.yml for `stage`, with `env` as the environment its
 * `${env:...}` variables read. Runs without an inspector, whatever NODE_OPTIONS the caller has.
 */
export async function printService(repoRoot: string, stage: string, env: Record<string, string | undefined>): Promise<unknown> {
  const childEnv = { ...env };
  delete childEnv.NODE_OPTIONS;
  const { stdout } = await promisify(execFile)(process.execPath, [serverlessBin, 'print', '--stage', stage, '--format', 'json'], {
    cwd: repoRoot,
    env: childEnv,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as unknown;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const objectAt = (value: unknown, where: string): Json => {
  if (!isObject(value)) throw new Error(`serverless config: ${where} is not an object`);
  return value;
};
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const positive = (value: unknown, fallback: number, where: string): number => {
  if (value === undefined || value === null || value === '') return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new Error(`serverless config: ${where} must be a positive number, got ${JSON.stringify(value)}`);
  return number;
};

/** The logical id in `{"Fn::GetAtt": [id, "Arn"]}`, the only way this stack names its own queues. */
function arnOf(value: unknown): string | undefined {
  const getAtt = isObject(value) ? value['Fn::GetAtt'] : undefined;
  return Array.isArray(getAtt) && getAtt[1] === 'Arn' && typeof getAtt[0] === 'string' ? getAtt[0] : undefined;
}

/** The framework's default `cors: true` headers, as it writes them into the OPTIONS method. */
const DEFAULT_CORS_HEADERS = ['Content-Type', 'X-Amz-Date', 'Authorization', 'X-Api-Key', 'X-Amz-Security-Token', 'X-Amz-User-Agent', 'X-Amzn-Trace-Id'];

function corsOf(value: unknown): CorsSettings | undefined {
  if (value === undefined || value === false) return undefined;
  const settings = isObject(value) ? value : {};
  const origins = [settings.origin, ...list(settings.origins)].filter((origin): origin is string => typeof origin === 'string');
  const headers = list(settings.headers).filter((header): header is string => typeof header === 'string');
  return {
    origins: origins.length > 0 ? origins : ['*'],
    headers: headers.length > 0 ? headers : DEFAULT_CORS_HEADERS,
    allowCredentials: settings.allowCredentials === true,
  };
}

const stringsOf = (value: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(isObject(value) ? value : {}).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));

/**
 * The integration the framework compiles from an `integration: mock` event (its request
 * templates and passthrough behaviour; per status code, the selection pattern, the response
 * headers and templates), in CloudFormation's shape. Only the forms the relay writes are read: a
 * mock event with `cors` or without `response.statusCodes` is refused rather than guessed at.
 * test/deploy/template.test.ts compares the result with the packaged template.
 */
function mockIntegrationOf(where: string, event: Json): MockIntegration {
  const request = isObject(event.request) ? event.request : {};
  const response = isObject(event.response) ? event.response : {};
  if (event.cors !== undefined || !isObject(response.statusCodes)) {
    throw new Error(`serverless config: ${where}: npm start serves a mock integration with response.statusCodes and without cors`);
  }
  const headers = (more: unknown) =>
    Object.fromEntries(Object.entries({ ...stringsOf(response.headers), ...stringsOf(more) }).map(([name, source]) => [`method.response.header.${name}`, source]));
  const integrationResponses = Object.entries(response.statusCodes).map(([status, value]): MockIntegrationResponse => {
    const config = isObject(value) ? value : {};
    const templates = typeof config.template === 'string' ? { 'application/json': config.template } : stringsOf(config.template);
    return {
      StatusCode: status,
      SelectionPattern: typeof config.pattern === 'string' ? config.pattern : '',
      ResponseParameters: headers(config.headers),
      ResponseTemplates: { ...(typeof response.template === 'string' ? { 'application/json': response.template } : {}), ...templates },
    };
  });
  return {
    ...(typeof request.passThrough === 'string' ? { PassthroughBehavior: request.passThrough } : {}),
    RequestTemplates: stringsOf(request.template),
    IntegrationResponses: integrationResponses,
  };
}

function httpRouteOf(functionKey: string, http: unknown): HttpRoute {
  // `http: GET /path` is the framework's shorthand for `{method: get, path: /path}`.
  const event = typeof http === 'string' ? (([method, path]) => ({ method, path }))(http.trim().split(/\s+/)) : objectAt(http, `${functionKey} http event`);
  const { method, path, integration } = event as Json;
  if (typeof method !== 'string' || typeof path !== 'string') throw new Error(`serverless config: an http event of ${functionKey} has no method or path`);
  return {
    functionKey,
    method: method.toUpperCase(),
    path: `/${path.replace(/^\/+/, '')}`,
    cors: corsOf((event as Json).cors),
    mock: typeof integration === 'string' && integration.toLowerCase() === 'mock' ? mockIntegrationOf(`${method} ${path}`, event as Json) : undefined,
  };
}

function environmentOf(value: unknown, where: string): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const [name, setting] of Object.entries(isObject(value) ? value : {})) {
    // The functions' environment must be plain strings (the contract's "Local run").
    if (typeof setting !== 'string' && typeof setting !== 'number' && typeof setting !== 'boolean') {
      throw new Error(`serverless config: ${where}.${name} is not a plain value: ${JSON.stringify(setting)}`);
    }
    environment[name] = String(setting);
  }
  return environment;
}

/** Reads what the local runs need from the output of `printService`. */
export function readService(printed: unknown): LocalService {
  const config = objectAt(printed, 'the printed configuration');
  const provider = objectAt(config.provider, 'provider');
  const resources = isObject(config.resources) && isObject(config.resources.Resources) ? config.resources.Resources : {};
  const environment = environmentOf(provider.environment, 'provider.environment');
  const functions = new Map<string, LocalFunction>();
  const routes: HttpRoute[] = [];
  const queueSources: QueueSource[] = [];

  for (const [key, value] of Object.entries(isObject(config.functions) ? config.functions : {})) {
    const fn = objectAt(value, `functions.${key}`);
    if (typeof fn.handler !== 'string') throw new Error(`serverless config: functions.${key} has no handler`);
    functions.set(key, {
      key,
      name: typeof fn.name === 'string' ? fn.name : key,
      handler: fn.handler,
      timeoutSeconds: positive(fn.timeout ?? provider.timeout, 6, `functions.${key}.timeout`),
      memorySize: positive(fn.memorySize ?? provider.memorySize, 1024, `functions.${key}.memorySize`),
    });
    for (const [name, setting] of Object.entries(environmentOf(fn.environment, `functions.${key}.environment`))) {
      // Every function runs in the one process of `npm start`, so they share one environment.
      if (name in environment && environment[name] !== setting) {
        throw new Error(`serverless config: functions.${key}.environment.${name} differs from another setting of ${name}; npm start runs all functions in one process`);
      }
      environment[name] = setting;
    }
    for (const event of list(fn.events)) {
      if (!isObject(event)) continue;
      if (event.http !== undefined) routes.push(httpRouteOf(key, event.http));
      const sqs = isObject(event.sqs) ? event.sqs : undefined;
      const queue = arnOf(sqs?.arn);
      if (sqs === undefined || queue === undefined) continue;
      const queueResource = isObject(resources[queue]) ? (resources[queue] as Json) : {};
      const properties = isObject(queueResource.Properties) ? queueResource.Properties : {};
      const redrive = isObject(properties.RedrivePolicy) ? properties.RedrivePolicy : {};
      queueSources.push({
        queue,
        queueName: typeof properties.QueueName === 'string' ? properties.QueueName : queue,
        functionKey: key,
        batchSize: positive(sqs.batchSize, 10, `functions.${key} sqs batchSize`),
        maximumConcurrency: positive(sqs.maximumConcurrency, 2, `functions.${key} sqs maximumConcurrency`),
        // Without a redrive policy SQS redelivers until the retention ends; locally, a day's worth.
        maxReceiveCount: positive(redrive.maxReceiveCount, Number.MAX_SAFE_INTEGER, `${queue} maxReceiveCount`),
      });
    }
  }

  const bucketNotifications: BucketNotification[] = [];
  const bucketCors: BucketCors[] = [];
  const strings = (value: unknown): string[] => list(value).filter((item): item is string => typeof item === 'string');
  for (const resource of Object.values(resources)) {
    if (!isObject(resource) || resource.Type !== 'AWS::S3::Bucket' || !isObject(resource.Properties)) continue;
    const { BucketName: bucket, NotificationConfiguration: notifications, CorsConfiguration: cors } = resource.Properties;
    if (typeof bucket !== 'string') continue;
    for (const rule of isObject(cors) ? list(cors.CorsRules) : []) {
      if (!isObject(rule)) continue;
      const maxAge = Number(rule.MaxAge);
      bucketCors.push({ bucket, methods: strings(rule.AllowedMethods), headers: strings(rule.AllowedHeaders), maxAgeSeconds: Number.isFinite(maxAge) ? maxAge : undefined });
    }
    if (!isObject(notifications)) continue;
    for (const configuration of list(notifications.QueueConfigurations)) {
      if (!isObject(configuration)) continue;
      const queue = arnOf(configuration.Queue);
      if (queue === undefined || typeof configuration.Event !== 'string') continue;
      const filter = isObject(configuration.Filter) && isObject(configuration.Filter.S3Key) ? list(configuration.Filter.S3Key.Rules) : [];
      const rule = (name: string) => {
        const found = filter.find((candidate) => isObject(candidate) && String(candidate.Name).toLowerCase() === name);
        return isObject(found) && typeof found.Value === 'string' ? found.Value : '';
      };
      bucketNotifications.push({ bucket, queue, event: configuration.Event, prefix: rule('prefix'), suffix: rule('suffix') });
    }
  }

  const apiGateway = isObject(provider.apiGateway) ? provider.apiGateway : {};
  return {
    functions,
    routes,
    environment,
    binaryMediaTypes: list(apiGateway.binaryMediaTypes).filter((type): type is string => typeof type === 'string'),
    queueSources,
    bucketNotifications,
    bucketCors,
  };
}

/** Whether an S3 event `eventName` (e.g. `ObjectCreated:Post`) for `key` matches a notification's event and filter. */
export function notifies(notification: BucketNotification, eventName: string, key: string): boolean {
  const pattern = notification.event.replace(/^s3:/, '');
  const eventMatches = pattern.endsWith(':*') ? eventName.startsWith(pattern.slice(0, -1)) : eventName === pattern;
  return eventMatches && key.startsWith(notification.prefix) && key.endsWith(notification.suffix);
}
