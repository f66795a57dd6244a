import { FormData, Pool } from 'undici';
import { lambdaContext, restEvent, type RestHandler } from '../test/support/lambda.ts';
import { signingKeySecret, SIGNING_KEY_SECRET_ID, startSecretsManager } from '../test/support/secrets-manager.ts';
import { BENCH_CLIENT } from './upstream.ts';

/**
 * One way of getting a check done: `prepare` builds what the caller hands over (API Gateway's
 * event, for the relay) outside the timed part, and returns the call to time.
 */
export interface Contender {
  prepare(body: string): () => Promise<void>;
  close(): Promise<void>;
}

const CHECK_PATH = '/v1/liveness-check';

/**
 * `functions/liveness-check.ts` loaded as a cold Lambda container loads it, configured for the
 * bench upstream. Credentials come from the environment (a deployed function reads them once from
 * Secrets Manager, then from memory: the same per-check cost) and the token from the memory tier,
 * which answers every check after the first whether or not TOKEN_TABLE is set. The signing key
 * comes from a loopback Secrets Manager, as deployed: read once, then from memory.
 */
export async function relayContender(upstreamUrl: string): Promise<Contender> {
  const secrets = await startSecretsManager({ [SIGNING_KEY_SECRET_ID]: signingKeySecret() });
  Object.assign(process.env, {
    SIGNING_KEY_SECRET_ID,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'bench',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'bench',
    DEEPVUE_BASE_URL: upstreamUrl,
    DEEPVUE_CLIENT_ID: BENCH_CLIENT.id,
    DEEPVUE_CLIENT_SECRET: BENCH_CLIENT.secret,
    AWS_LAMBDA_FUNCTION_NAME: 'livenessCheck',
    AWS_REGION: 'us-east-1',
    METRICS_NAMESPACE: 'LivenessRelayBench',
    POWERTOOLS_SERVICE_NAME: 'liveness-relay-bench',
  });
  for (const name of ['DEEPVUE_SECRET_ID', 'TOKEN_TABLE', 'IS_OFFLINE', 'IS_LOCAL', 'POWERTOOLS_DEV']) delete process.env[name];
  const { handler } = (await import('../functions/liveness-check.ts')) as { handler: RestHandler };
  return {
    prepare: (body) => {
      const event = restEvent('POST', CHECK_PATH, { body });
      const context = lambdaContext(29_000);
      return async () => {
        const result = (await handler(event, context)) as { statusCode?: number };
        if (result.statusCode !== 200) throw new Error(`the relay answered ${result.statusCode}; the bench measures successful checks only`);
      };
    },
    close: () => secrets.close(),
  };
}

/** The baseline: the same body POSTed straight to the upstream with undici, as a client without the relay would. */
export async function directContender(upstreamUrl: string): Promise<Contender> {
  const pool = new Pool(upstreamUrl);
  const form = new FormData();
  form.set('client_id', BENCH_CLIENT.id);
  form.set('client_secret', BENCH_CLIENT.secret);
  const authorized = await pool.request({ path: '/v1/authorize', method: 'POST', body: form });
  const { access_token: token } = (await authorized.body.json()) as { access_token: string };
  const headers = { authorization: `Bearer ${token}`, 'x-api-key': BENCH_CLIENT.secret, 'content-type': 'application/json' };
  return {
    prepare: (body) => async () => {
      const response = await pool.request({ path: CHECK_PATH, method: 'POST', headers, body });
      await response.body.text();
      if (response.statusCode !== 200) throw new Error(`the upstream answered ${response.statusCode}`);
    },
    close: () => pool.close(),
  };
}
