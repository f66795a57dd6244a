import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { FormData, Pool } from 'undici';

/**
 * The cost bench's baseline: the relay a team writes in an afternoon, on the same stack (a
 * Lambda behind API Gateway, 512 MB, Powertools' logger, credentials in Secrets Manager). It
 * differs from the relay in what the comparison is about: no token sharing (each container
 * authorizes on its own), no idempotency (a repeated request is a new paid call), no input
 * checks and no pre-screen (every request goes to Deepvue), and logs at INFO with the whole
 * request (Powertools' `logEvent`) and the whole answer. It keeps what any relay keeps: the
 * secret and the token in memory for the container's life.
 */
const logger = new Logger({ serviceName: 'naive-relay' });
const secrets = new SecretsManagerClient({});
const upstream = new Pool(process.env.DEEPVUE_BASE_URL ?? 'https://production.deepvue.tech');
let credentials: { client_id: string; client_secret: string } | undefined;
let token: string | undefined;

async function authorized(): Promise<{ token: string; apiKey: string }> {
  if (credentials === undefined) {
    const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: process.env.DEEPVUE_SECRET_ID }));
    credentials = JSON.parse(SecretString ?? '{}') as { client_id: string; client_secret: string };
  }
  if (token === undefined) {
    const form = new FormData();
    form.set('client_id', credentials.client_id);
    form.set('client_secret', credentials.client_secret);
    const answer = await upstream.request({ path: '/v1/authorize', method: 'POST', body: form });
    token = ((await answer.body.json()) as { access_token: string }).access_token;
  }
  return { token, apiKey: credentials.client_secret };
}

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger, { logEvent: true }))
  .handler(async (event) => {
    const { token: bearer, apiKey } = await authorized();
    const answer = await upstream.request({
      path: '/v1/liveness-check',
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'x-api-key': apiKey, 'content-type': 'application/json' },
      body: event.body ?? '',
    });
    const body = await answer.body.text();
    logger.info('Deepvue answered', { status: answer.statusCode, body });
    return { statusCode: answer.statusCode, headers: { 'content-type': 'application/json' }, body };
  });
