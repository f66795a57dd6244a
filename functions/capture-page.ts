import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import page from '../.build/capture-page.json' with { type: 'json' };
import { readConfig } from '../lib/config.ts';
import { requestIdOf } from '../lib/response.ts';
import { capturePageResponse, uploadOrigin } from '../lib/sessions/capture-page.ts';

const config = readConfig();
if (config.uploadBucket === undefined) throw new Error('capturePage needs UPLOAD_BUCKET');
// The same answer for every request of the container: the page and its policy are fixed at deployment.
const answer = capturePageResponse(page, uploadOrigin(config.uploadBucket, process.env.AWS_REGION ?? 'us-east-1'));

/** GET /capture: the page a session's capture_url opens (the session id is in its fragment). */
export const handler = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => ({
  ...answer,
  headers: { ...answer.headers, 'x-request-id': requestIdOf(event, context) },
});
