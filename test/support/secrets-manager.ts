import { startAwsJsonServer } from './aws-json.ts';

/**
 * A loopback Secrets Manager answering `GetSecretValue`, so the real SDK client (pointed here by
 * AWS_ENDPOINT_URL_SECRETS_MANAGER or an explicit endpoint) is exercised end to end.
 */
export interface SecretsManagerEndpoint {
  url: string;
  /** GetSecretValue requests received, failed ones included. */
  readonly getSecretValueCalls: number;
  setSecret(secretId: string, value: string): void;
  /** The next `times` requests fail with a 500 InternalServiceError, or never get an answer. */
  failNext(times: number, how?: 'error' | 'hang'): void;
  close(): Promise<void>;
}

export async function startSecretsManager(secrets: Record<string, string>): Promise<SecretsManagerEndpoint> {
  const values = new Map(Object.entries(secrets));
  let calls = 0;
  let failures: { times: number; how: 'error' | 'hang' } = { times: 0, how: 'error' };

  const server = await startAwsJsonServer({
    'secretsmanager.GetSecretValue': ({ SecretId: secretId }) => {
      calls += 1;
      if (failures.times > 0) {
        failures = { ...failures, times: failures.times - 1 };
        if (failures.how === 'hang') return undefined;
        return { status: 500, body: { message: 'injected failure' }, errorType: 'InternalServiceError' };
      }
      const value = typeof secretId === 'string' ? values.get(secretId) : undefined;
      if (typeof secretId !== 'string' || value === undefined) {
        return { status: 400, body: { message: "Secrets Manager can't find the specified secret." }, errorType: 'ResourceNotFoundException' };
      }
      return {
        body: {
          ARN: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${secretId}-AbCdEf`,
          Name: secretId,
          SecretString: value,
          VersionId: `v${calls}`,
          VersionStages: ['AWSCURRENT'],
          CreatedDate: Date.now() / 1000,
        },
      };
    },
  });

  return {
    url: server.url,
    get getSecretValueCalls() {
      return calls;
    },
    setSecret: (secretId, value) => {
      values.set(secretId, value);
    },
    failNext: (times, how = 'error') => {
      failures = { times, how };
    },
    close: () => server.close(),
  };
}
