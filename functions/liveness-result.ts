import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { readConfig } from '../lib/container/config.ts';
import { relayEnvelope } from '../lib/platform/envelope.ts';
import { jsonResponse, requestIdOf } from '../lib/http/response.ts';
import { describeError, logger } from '../lib/platform/logger.ts';
import { resultAnswer, StoredResults } from '../lib/uploads/stored-results.ts';

const config = readConfig();
const { resultsTable, uploadBucket } = config;
if (resultsTable === undefined || uploadBucket === undefined) throw new Error('livenessResult needs RESULTS_TABLE and UPLOAD_BUCKET');
// Reads only: the function holds the results' reader, never their writer (so its role reads the table, no more).
const results = new StoredResults({ client: new DynamoDBClient({}), tableName: resultsTable });

/** GET /v1/liveness-results/{key+}: the stored result of an image uploaded to UPLOAD_BUCKET. */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event, context) => {
    const headers = { 'x-request-id': requestIdOf(event, context) };
    try {
      const answer = await resultAnswer(results, uploadBucket, event.pathParameters?.key);
      return jsonResponse(answer.status, answer.body, headers);
    } catch (error) {
      logger.error('cannot read the result', { error: describeError(error) });
      return jsonResponse(500, relayEnvelope('INTERNAL_SERVER_ERROR', 'the relay could not read the result; retry later'), headers);
    }
  });
