import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { readConfig } from '../lib/container/config.ts';
import { JWKS_MAX_AGE_SECONDS, signingKeysFor } from '../lib/evidence/keys.ts';
import { jsonResponse, requestIdOf } from '../lib/http/response.ts';
import { relayEnvelope } from '../lib/platform/envelope.ts';
import { logger } from '../lib/platform/logger.ts';
import { RelayMetrics } from '../lib/platform/metrics.ts';

const config = readConfig();
// Read more often than the signers read the key: a key staged for a rotation is published well before any container signs with it.
const keys = signingKeysFor({
  secretId: config.signingKeySecretId,
  isLocalRun: config.isLocalRun,
  maxAgeSeconds: Math.min(config.secretMaxAgeSeconds, JWKS_MAX_AGE_SECONDS),
  metrics: new RelayMetrics({ namespace: config.metricsNamespace }),
});

/**
 * GET /.well-known/jwks.json: the public keys of signed verdicts (RFC 7517), no API key. The
 * request's body, query and Accept are not read: every GET gets the same document.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
  .handler(async (event, context) => {
    const headers = { 'x-request-id': requestIdOf(event, context) };
    try {
      const jwks = { keys: await keys.publicKeys() };
      return jsonResponse(200, jwks, { ...headers, 'cache-control': `public, max-age=${JWKS_MAX_AGE_SECONDS}` });
    } catch {
      // Logged and counted where the key failed to load; a partial key set is never published.
      return jsonResponse(500, relayEnvelope('INTERNAL_SERVER_ERROR', 'the relay cannot publish its keys now; retry later'), headers);
    }
  });
