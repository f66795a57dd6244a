import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import page from '../.build/capture-page.json' with { type: 'json' };
import { readConfig } from '../lib/container/config.ts';
import { requestIdOf } from '../lib/http/response.ts';
import { captureAssetResponse, capturePageResponse, uploadOrigin } from '../lib/sessions/capture-page.ts';

const config = readConfig();
if (config.uploadBucket === undefined) throw new Error('capturePage needs UPLOAD_BUCKET');
// The same answer for every request of the container: the page and its policy are fixed at deployment.
const answer = capturePageResponse(page, uploadOrigin(config.uploadBucket, process.env.AWS_REGION ?? 'us-east-1'));
// The detector's files are packaged beside the bundle (serverless.yml), read at first request and kept.
const assetsDir = new URL('../.build/capture-assets/', import.meta.url);
const files = new Map<string, Buffer>();
const read = (name: string): Buffer => {
  let content = files.get(name);
  if (content === undefined) files.set(name, (content = readFileSync(new URL(name, assetsDir))));
  return content;
};

/**
 * GET /capture: the page a session's capture_url opens (the session id is in its fragment).
 * GET /capture/assets/{file}: its face detector's files.
 */
export const handler = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  const requestId = requestIdOf(event, context);
  if (event.resource === '/capture/assets/{file}') return captureAssetResponse(event.pathParameters?.file, page.assets, read, requestId);
  return { ...answer, headers: { ...answer.headers, 'x-request-id': requestId } };
};
