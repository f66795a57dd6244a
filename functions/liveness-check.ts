import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { checkImage } from '../lib/check/check.ts';
import { relayOutcome } from '../lib/check/outcome.ts';
import { readCheckRequest } from '../lib/check/request.ts';
import { readConfig } from '../lib/container/config.ts';
import { bodyLimit, checkResponse, foldedHeaderNames, maxBodyChars, type CheckHandlerResult } from '../lib/http/middleware.ts';
import { IdempotentRequests, readIdempotencyKey } from '../lib/http/idempotency.ts';
import { logger } from '../lib/platform/logger.ts';
import { RelayMetrics } from '../lib/platform/metrics.ts';
import { createCheckDeps, providerFor } from '../lib/container/check-deps.ts';
import { createTokenTableClient } from '../lib/deepvue/tokens/dynamo-store.ts';

const config = readConfig();
const metrics = new RelayMetrics({ namespace: config.metricsNamespace });
const provider = providerFor(config);
// One client, short timeouts, for the token table and the Idempotency-Key records: a client is not tied to a table.
const tableClient = createTokenTableClient();
const deps = createCheckDeps({ config, metrics, tokenTableClient: tableClient });
// Awaited by every request; this only keeps a failed start from being reported as unhandled.
deps.catch(() => undefined);
// Answers kept under an Idempotency-Key live in RESULTS_TABLE beside the upload claims.
const idempotency = config.resultsTable === undefined
  ? undefined
  : new IdempotentRequests({ client: tableClient, tableName: config.resultsTable });

/** POST /v1/liveness-check: `{"image": "<https URL or base64>"}` → Deepvue's verdict, relayed. */
export const handler = middy<APIGatewayProxyEvent, CheckHandlerResult>()
  // logEvent: false wins over POWERTOOLS_LOGGER_LOG_EVENT: the event holds the image and the caller's API key.
  .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
  .use(checkResponse({ metrics, provider }))
  .use(foldedHeaderNames())
  .use(bodyLimit(maxBodyChars(config.maxImageBytes)))
  .use(httpJsonBodyParser())
  .handler(async (event, context) => {
    const request = readCheckRequest(event.body);
    if (!request.ok) return relayOutcome('INVALID_REQUEST', request.message, provider);
    const idempotencyKey = readIdempotencyKey(event);
    if (!idempotencyKey.ok) return relayOutcome('INVALID_REQUEST', idempotencyKey.message, provider);
    const { key } = idempotencyKey;
    if (key !== undefined && idempotency === undefined) {
      return relayOutcome('INTERNAL_SERVER_ERROR', 'Idempotency-Key cannot be honoured: RESULTS_TABLE is not configured', provider);
    }
    const budget = Math.min(config.upstreamDeadlineMs, context.getRemainingTimeInMillis() - 1000);
    const once = key === undefined ? undefined : idempotency?.step(key, event.requestContext?.identity?.apiKeyId ?? '', context, provider);
    return checkImage({ text: request.image }, await deps, Date.now() + budget, once);
  });
