import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { readConfig } from '../lib/container/config.ts';
import { relayEnvelope } from '../lib/platform/envelope.ts';
import { firstUse } from '../lib/platform/lazy.ts';
import { describeError, logger } from '../lib/platform/logger.ts';
import { jsonResponse, requestIdOf } from '../lib/http/response.ts';
import { answerSessionRoute } from '../lib/sessions/http.ts';
import { LivenessSessions } from '../lib/sessions/routes.ts';
import { SessionStore } from '../lib/sessions/store.ts';

const config = readConfig();
const { resultsTable, uploadBucket } = config;
if (resultsTable === undefined || uploadBucket === undefined) throw new Error('livenessSessions needs RESULTS_TABLE and UPLOAD_BUCKET');
// The S3 client and the presigned-post signer are loaded by the first request that needs the
// bucket (an upload form, or a session past its window), not at start: opening and reading
// sessions, the commonest requests, need the table only.
const bucket = firstUse(async () => new (await import('../lib/sessions/bucket.ts')).SessionUploadBucket(uploadBucket));
// capture_url: CAPTURE_PAGE_URL, else the /capture page of the API in this function's region.
const capturePage = { url: config.capturePageUrl, region: process.env.AWS_REGION ?? 'us-east-1' };
const sessions = new LivenessSessions({
  store: new SessionStore({ client: new DynamoDBClient({}), tableName: resultsTable, retentionDays: config.resultsRetentionDays }),
  bucket: { presign: async (options) => (await bucket()).presign(options), holds: async (key) => (await bucket()).holds(key) },
  uploadPrefix: config.uploadPrefix,
  maxImageBytes: config.maxImageBytes,
  ttlSeconds: config.sessionTtlSeconds,
});

/**
 * The liveness session routes: open and read a session (API key), and the capture page's two
 * (the session id is the credential): its presigned upload and its progress. The id is a
 * credential, so it is never logged.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  // logEvent: false wins over POWERTOOLS_LOGGER_LOG_EVENT: the path holds the session id.
  .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
  .handler(async (event, context) => {
    const requestId = requestIdOf(event, context);
    logger.setCorrelationId(requestId);
    const headers = { 'x-request-id': requestId, 'cache-control': 'no-store' };
    try {
      const answer = await answerSessionRoute(event, sessions, capturePage);
      logger.info('liveness session route answered', { route: `${event.httpMethod} ${event.resource}`, status: answer.status });
      return jsonResponse(answer.status, answer.body, headers);
    } catch (error) {
      logger.error('liveness session route failed', { route: `${event.httpMethod} ${event.resource}`, error: describeError(error) });
      return jsonResponse(500, relayEnvelope('INTERNAL_SERVER_ERROR', 'the relay could not answer; retry later'), headers);
    }
  });
