import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { readConfig } from '../lib/container/config.ts';
import { jsonResponse, requestIdOf } from '../lib/http/response.ts';
import { relayEnvelope } from '../lib/platform/envelope.ts';
import { describeError, logger } from '../lib/platform/logger.ts';
import { RelayMetrics } from '../lib/platform/metrics.ts';
import { Eraser } from '../lib/retention/eraser.ts';
import { ErasureRoutes, type ErasureAnswer } from '../lib/retention/routes.ts';

const config = readConfig();
const { resultsTable, uploadBucket } = config;
if (resultsTable === undefined || uploadBucket === undefined) throw new Error('livenessErasure needs RESULTS_TABLE and UPLOAD_BUCKET');
const eraser = new Eraser({
  dynamo: new DynamoDBClient({}),
  s3: new S3Client({}),
  resultsTable,
  retentionDays: config.resultsRetentionDays,
  bucket: uploadBucket,
  uploadPrefix: config.uploadPrefix,
});
const routes = new ErasureRoutes({ eraser, bucket: uploadBucket, uploadPrefix: config.uploadPrefix, metrics: new RelayMetrics({ namespace: config.metricsNamespace }) });

/**
 * DELETE /v1/liveness-results/{key+} and DELETE /v1/liveness-sessions/{id}: everything the relay
 * holds about one upload or one session, erased (API key).
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  // logEvent: false wins over POWERTOOLS_LOGGER_LOG_EVENT: the path holds a session id.
  .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
  .handler(async (event, context) => {
    const requestId = requestIdOf(event, context);
    logger.setCorrelationId(requestId);
    const headers = { 'x-request-id': requestId };
    let answer: ErasureAnswer;
    try {
      answer = event.resource === '/v1/liveness-sessions/{id}'
        ? await routes.eraseSession(event.pathParameters?.id)
        : await routes.eraseResult(event.pathParameters?.key);
    } catch (error) {
      logger.error('erasure route failed', { error: describeError(error) });
      return jsonResponse(500, relayEnvelope('INTERNAL_SERVER_ERROR', 'the relay could not answer; retry later'), headers);
    }
    if (answer.status === 503) return jsonResponse(503, answer.body, { ...headers, 'retry-after': String(answer.retryAfterSeconds) });
    return jsonResponse(answer.status, answer.body, headers);
  });
