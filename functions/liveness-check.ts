import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { checkImage, readCheckRequest, relayOutcome } from '../lib/check.ts';
import { readConfig } from '../lib/config.ts';
import { bodyLimit, checkResponse, maxBodyChars, type CheckHandlerResult } from '../lib/http.ts';
import { logger } from '../lib/logger.ts';
import { RelayMetrics } from '../lib/metrics.ts';
import { createCheckDeps, providerFor } from '../lib/relay.ts';

const config = readConfig();
const metrics = new RelayMetrics({ namespace: config.metricsNamespace });
const provider = providerFor(config);
const deps = createCheckDeps({ config, metrics });
// Awaited by every request; this only keeps a failed start from being reported as unhandled.
deps.catch(() => undefined);

/** POST /v1/liveness-check: `{"image": "<https URL or base64>"}` → Deepvue's verdict, relayed. */
export const handler = middy<APIGatewayProxyEvent, CheckHandlerResult>()
  // logEvent: false wins over POWERTOOLS_LOGGER_LOG_EVENT: the event holds the image and the caller's API key.
  .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
  .use(checkResponse({ metrics, provider }))
  .use(httpHeaderNormalizer())
  .use(bodyLimit(maxBodyChars(config.maxImageBytes)))
  .use(httpJsonBodyParser())
  .handler(async (event, context) => {
    const request = readCheckRequest(event.body);
    if (!request.ok) return relayOutcome('INVALID_REQUEST', request.message, provider);
    const budget = Math.min(config.upstreamDeadlineMs, context.getRemainingTimeInMillis() - 1000);
    return checkImage({ text: request.image }, await deps, Date.now() + budget);
  });
