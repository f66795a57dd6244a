import type { IncomingMessage } from 'node:http';
import type { APIGatewayEventIdentity, APIGatewayProxyEvent } from 'aws-lambda';

/**
 * The Lambda proxy integration of an API Gateway REST API, both ways: the event a function
 * receives for an HTTP request, and the HTTP answer its result stands for.
 */
export interface ProxyRequest {
  request: IncomingMessage;
  url: URL;
  /** The API's own domain (and port), as API Gateway names it in the request context: never the request's Host. */
  domainName: string;
  body: Buffer;
  /** The route's path as written in serverless.yml, e.g. `/v1/liveness-results/{key+}`. */
  resource: string;
  /** Path parameters as they appear in the URL (still percent-encoded, as API Gateway passes them). */
  pathParameters: Record<string, string>;
  requestId: string;
  receivedAt: number;
  stage: string;
  binaryMediaTypes: string[];
}

const nullIfEmpty = <T extends object>(value: T): T | null => (Object.keys(value).length === 0 ? null : value);

/** `*\/*`, `image/*` or an exact type, as API Gateway matches binaryMediaTypes against Content-Type. */
function isBinary(contentType: string | undefined, binaryMediaTypes: string[]): boolean {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return binaryMediaTypes.some((pattern) => {
    const [major, minor] = pattern.toLowerCase().split('/');
    const [typeMajor, typeMinor] = type.split('/');
    return (major === '*' || major === typeMajor) && (minor === '*' || minor === typeMinor);
  });
}

/** API Gateway's `requestTime`, e.g. `09/Apr/2015:12:34:56 +0000`. */
function requestTime(at: number): string {
  const [, day, month, year, time] = /^\w+, (\d+) (\w+) (\d+) (\S+)/.exec(new Date(at).toUTCString()) ?? [];
  return `${day}/${month}/${year}:${time} +0000`;
}

/** `requestContext.identity` of a caller with no IAM or Cognito identity: an API key at most. */
export function callerIdentity(caller: { sourceIp: string; userAgent: string | null; apiKey?: string; apiKeyId?: string }): APIGatewayEventIdentity {
  return {
    accessKey: null,
    accountId: null,
    apiKey: caller.apiKey ?? null,
    apiKeyId: caller.apiKeyId ?? null,
    caller: null,
    clientCert: null,
    cognitoAuthenticationProvider: null,
    cognitoAuthenticationType: null,
    cognitoIdentityId: null,
    cognitoIdentityPoolId: null,
    principalOrgId: null,
    sourceIp: caller.sourceIp,
    user: null,
    userAgent: caller.userAgent,
    userArn: null,
  };
}

export function proxyEvent(input: ProxyRequest): APIGatewayProxyEvent {
  const { request, url } = input;
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let index = 0; index + 1 < request.rawHeaders.length; index += 2) {
    const name = request.rawHeaders[index] as string;
    const value = request.rawHeaders[index + 1] as string;
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  }
  const query: Record<string, string> = {};
  const multiValueQuery: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    query[name] = value;
    (multiValueQuery[name] ??= []).push(value);
  }
  const binary = isBinary(request.headers['content-type'], input.binaryMediaTypes);
  const method = request.method ?? 'GET';
  const sourceIp = (request.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  return {
    resource: input.resource,
    path: url.pathname,
    httpMethod: method,
    headers,
    multiValueHeaders,
    queryStringParameters: nullIfEmpty(query),
    multiValueQueryStringParameters: nullIfEmpty(multiValueQuery),
    pathParameters: nullIfEmpty(input.pathParameters),
    stageVariables: null,
    body: input.body.byteLength === 0 ? null : input.body.toString(binary ? 'base64' : 'utf8'),
    isBase64Encoded: binary && input.body.byteLength > 0,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: null,
      domainName: input.domainName,
      domainPrefix: 'local',
      extendedRequestId: input.requestId,
      httpMethod: method,
      identity: callerIdentity({ sourceIp, userAgent: request.headers['user-agent'] ?? null }),
      path: `/${input.stage}${url.pathname}`,
      protocol: `HTTP/${request.httpVersion}`,
      requestId: input.requestId,
      requestTime: requestTime(input.receivedAt),
      requestTimeEpoch: input.receivedAt,
      resourceId: 'local',
      resourcePath: input.resource,
      stage: input.stage,
    },
  };
}

/** An HTTP answer a function's result stands for. */
export interface ProxyAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isHeaderValue = (value: unknown): value is string | number | boolean =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

/**
 * The answer for a function's result, or undefined when API Gateway would refuse it as a
 * malformed Lambda proxy response (and answer 502 itself). Without a content type the answer is
 * `application/json`, as API Gateway makes it.
 */
export function proxyAnswer(result: unknown): ProxyAnswer | undefined {
  if (!isObject(result)) return undefined;
  const { statusCode, headers = {}, multiValueHeaders = {}, body = '', isBase64Encoded = false } = result;
  if (typeof statusCode !== 'number' || !Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) return undefined;
  if (!isObject(headers) || !isObject(multiValueHeaders) || typeof body !== 'string' || typeof isBase64Encoded !== 'boolean') return undefined;
  const merged = new Map<string, [string, string[]]>();
  for (const [name, value] of Object.entries(headers)) {
    if (!isHeaderValue(value)) return undefined;
    merged.set(name.toLowerCase(), [name, [String(value)]]);
  }
  for (const [name, values] of Object.entries(multiValueHeaders)) {
    if (!Array.isArray(values) || !values.every(isHeaderValue)) return undefined;
    // A header in both maps takes the values of multiValueHeaders only, as API Gateway merges them.
    merged.set(name.toLowerCase(), [name, values.map(String)]);
  }
  if (!merged.has('content-type')) merged.set('content-type', ['content-type', ['application/json']]);
  return {
    status: statusCode,
    headers: Object.fromEntries([...merged.values()].map(([name, values]) => [name, values.length === 1 ? (values[0] as string) : values])),
    body: Buffer.from(body, isBase64Encoded ? 'base64' : 'utf8'),
  };
}
