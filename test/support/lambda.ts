import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { vi } from 'vitest';
import { callerIdentity } from '../../scripts/local/api-event.ts';
import { expectDocumented } from './openapi.ts';

/** The Lambda entry point as API Gateway calls it. */
export type RestHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<unknown>;

/** What a caller of the API sees. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  /** API Gateway's request id of the call, which `x-request-id` must echo. */
  requestId: string;
}

/**
 * Sets `env` (undefined deletes a variable) and imports `functions/<name>.ts` afresh, as a new
 * Lambda container would: the handler modules read their configuration at import time.
 */
export async function loadFunction(name: string, env: Record<string, string | undefined>): Promise<RestHandler> {
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  vi.resetModules();
  const module: unknown = await import(`../../functions/${name}.ts`);
  const handler = (module as { handler?: unknown }).handler;
  if (typeof handler !== 'function') throw new Error(`functions/${name}.ts exports no handler`);
  return handler as RestHandler;
}

export interface RestRequest {
  body: string | null;
  headers?: Record<string, string>;
  isBase64Encoded?: boolean;
  /** What `context.getRemainingTimeInMillis()` starts from; API Gateway allows 29 s. */
  remainingMs?: number;
  /** The id of the caller's API key, as API Gateway names it in the request context. */
  apiKeyId?: string;
  /** Headers sent more than once, as API Gateway lists them (`headers` then holds the last value). */
  multiValueHeaders?: Record<string, string[]>;
}

/** Invokes `handler` in process with a REST API event for `POST /v1/liveness-check` and a Lambda context. */
export function invoke(handler: RestHandler, request: RestRequest): Promise<HttpAnswer> {
  return callApi(handler, restEvent('POST', '/v1/liveness-check', request), request.remainingMs ?? 29_000);
}

/**
 * Calls `handler` with `event` as API Gateway would, and returns what the caller sees once it has
 * been checked against docs/openapi.yaml: every answer a test gets from a handler comes through
 * here, so the document cannot drift from the code. A JSON body is parsed; any other stays text.
 */
export async function callApi(handler: RestHandler, event: APIGatewayProxyEvent, remainingMs: number): Promise<HttpAnswer> {
  const result = await handler(event, lambdaContext(remainingMs));
  if (!isProxyResult(result)) throw new Error(`the handler returned no API Gateway result: ${JSON.stringify(result)}`);
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([key, value]) => [key.toLowerCase(), String(value)]));
  await expectDocumented({ method: event.httpMethod, path: event.path, status: result.statusCode, headers, body: result.body });
  const body: unknown = headers['content-type']?.startsWith('application/json') === true ? JSON.parse(result.body) : result.body;
  return { status: result.statusCode, headers, body, requestId: event.requestContext.requestId };
}

/** POSTs `{"image": image}` as JSON. */
export function postImage(handler: RestHandler, image: unknown, remainingMs?: number): Promise<HttpAnswer> {
  return invoke(handler, { body: JSON.stringify({ image }), ...(remainingMs === undefined ? {} : { remainingMs }) });
}

const isProxyResult = (value: unknown): value is APIGatewayProxyResult =>
  typeof value === 'object' && value !== null && typeof (value as { statusCode?: unknown }).statusCode === 'number'
  && typeof (value as { body?: unknown }).body === 'string';

export function restEvent(method: string, path: string, request: RestRequest): APIGatewayProxyEvent {
  const headers = request.headers ?? { 'Content-Type': 'application/json' };
  const requestId = randomUUID();

  return {
    resource: path,
    path,
    httpMethod: method,
    headers,
    multiValueHeaders: {
      ...Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, [value]])),
      ...request.multiValueHeaders,
    },
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: request.body,
    isBase64Encoded: request.isBase64Encoded ?? false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'a1b2c3d4e5',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: method,
      identity: callerIdentity({ sourceIp: '203.0.113.7', userAgent: 'vitest', apiKey: 'test-api-key', apiKeyId: request.apiKeyId ?? 'k1' }),
      path: `/prod${path}`,
      stage: 'prod',
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: 'r1',
      resourcePath: path,
    },
  };
}

export function lambdaContext(remainingMs: number): Context {
  const deadline = Date.now() + remainingMs;
  const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'livenessCheck';
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/01/01/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
