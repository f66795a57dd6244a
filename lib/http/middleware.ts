import type middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { relayOutcome, type CheckOutcome, type Provider } from '../check/outcome.ts';
import { recordCheck } from '../check/record.ts';
import { logger } from '../platform/logger.ts';
import type { RelayMetrics } from '../platform/metrics.ts';
import { jsonResponse, requestIdOf } from './response.ts';

/** Raised before parsing when the request body cannot hold an acceptable image. */
export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError';
}

/** The longest JSON escape of one character: `\u002F`. */
const LONGEST_ESCAPE_CHARS = 6;

/**
 * The longest body worth parsing. Whitespace and JSON escapes never count against
 * MAX_IMAGE_BYTES (that rule is the decoded size, checked after parsing), so an acceptable image
 * may arrive with every base64 digit escaped (`\/`, `\u0041`) or followed by an escaped line
 * break (`\r\n` every 64 digits, as PEM writes it, or after every digit): room for six
 * characters per digit, a data: prefix and the JSON around it. This limit only spares the relay
 * parsing absurd bodies.
 */
export function maxBodyChars(maxImageBytes: number): number {
  return Math.ceil(maxImageBytes / 3) * 4 * LONGEST_ESCAPE_CHARS + 64 * 1024;
}

/**
 * Rejects a body longer than `maxBodyChars` before it is parsed, so an oversize request costs
 * neither a JSON parse nor an upstream call.
 */
export function bodyLimit(maxBodyChars: number): middy.MiddlewareObj<APIGatewayProxyEvent> {
  return {
    before: ({ event }) => {
      if (typeof event.body === 'string' && event.body.length > maxBodyChars) {
        throw new PayloadTooLargeError(`the request body exceeds ${maxBodyChars} characters`);
      }
    },
  };
}

/**
 * Header names in lower case, every spelling of a name folded into one: all its values, in the
 * order they came, in `multiValueHeaders`, and the last in `headers` (as API Gateway keeps the last
 * of a repeated header there). Written here rather than taken from middy's http-header-normalizer,
 * which keeps the values of one spelling only: `Idempotency-Key: a` and `idempotency-key: b` (HTTP
 * names are case-insensitive) would read as one header, and a repeat must stay a repeat however
 * each copy is spelt, whether API Gateway groups the spellings or, like npm start, passes them apart.
 */
export function foldedHeaderNames(): middy.MiddlewareObj<APIGatewayProxyEvent> {
  return {
    before: ({ event }) => {
      const values = new Map<string, string[]>();
      const add = (name: string, more: readonly string[]) => {
        const key = name.toLowerCase();
        values.set(key, [...(values.get(key) ?? []), ...more]);
      };
      for (const [name, more] of Object.entries(event.multiValueHeaders ?? {})) add(name, more ?? []);
      // An event without multiValueHeaders for a name (a hand-made one) still counts each spelling once.
      const listed = new Set(values.keys());
      for (const [name, value] of Object.entries(event.headers ?? {})) {
        if (!listed.has(name.toLowerCase()) && value !== undefined) add(name, [value]);
      }
      event.multiValueHeaders = Object.fromEntries(values);
      event.headers = Object.fromEntries([...values].flatMap(([name, all]) => (all.length === 0 ? [] : [[name, all.at(-1) as string]])));
    },
  };
}

/** The check handler returns an outcome; checkResponse replaces it with the HTTP answer. */
export type CheckHandlerResult = CheckOutcome | APIGatewayProxyResult;

export interface CheckResponseOptions {
  metrics: RelayMetrics;
  provider: Provider;
}

/**
 * Turns the handler's CheckOutcome, or any error thrown on the way, into the contract's HTTP
 * answer, and records the finished check once: one metric record and one log line.
 */
export function checkResponse(
  options: CheckResponseOptions,
): middy.MiddlewareObj<APIGatewayProxyEvent, CheckHandlerResult, Error, Context> {
  const answer = (request: middy.Request<APIGatewayProxyEvent, CheckHandlerResult, Error, Context>, outcome: CheckOutcome) => {
    const requestId = requestIdOf(request.event, request.context);
    request.response = jsonResponse(outcome.status, outcome.envelope, {
      'x-request-id': requestId,
      'x-liveness-provider': outcome.provider,
      ...(outcome.retryAfterSeconds === undefined ? {} : { 'retry-after': String(outcome.retryAfterSeconds) }),
      ...(outcome.replayed === true ? { 'idempotent-replayed': 'true' } : {}),
      ...(outcome.signature === undefined ? {} : { 'x-liveness-signature': outcome.signature }),
    });
    recordCheck(options.metrics, 'api', outcome, requestId);
  };
  return {
    before: (request) => {
      // Every line logged while answering, a dependency's warning included, names the request.
      // injectLambdaContext's resetKeys drops it after the invocation.
      logger.setCorrelationId(requestIdOf(request.event, request.context));
    },
    after: (request) => {
      if (request.response && 'envelope' in request.response) answer(request, request.response);
    },
    onError: (request) => answer(request, outcomeOfError(request.error, options.provider)),
  };
}

function outcomeOfError(error: unknown, provider: Provider): CheckOutcome {
  if (error instanceof PayloadTooLargeError) return relayOutcome('PAYLOAD_TOO_LARGE', error.message, provider);
  // middy ends a handler still waiting (on Secrets Manager, say) just before Lambda would kill it.
  if (error instanceof Error && error.name === 'TimeoutError') {
    return relayOutcome('UPSTREAM_TIMEOUT', 'the relay ran out of time waiting for its dependencies', provider);
  }
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  // The JSON body parser signals a body that is not JSON (or a forbidden key) with a 4xx error.
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const reason = status === 415 ? 'content-type must be application/json' : 'the body must be valid JSON';
    return relayOutcome('INVALID_REQUEST', reason, provider);
  }
  logger.error('unexpected failure in the liveness-check handler', { error: error instanceof Error ? error.name : 'unknown' });
  return relayOutcome('INTERNAL_SERVER_ERROR', 'the relay failed to process the check', provider);
}
