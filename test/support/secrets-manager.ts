import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback Secrets Manager answering `GetSecretValue` in the AWS JSON 1.1 protocol, so the
 * real SDK client (pointed here by AWS_ENDPOINT_URL_SECRETS_MANAGER or an explicit endpoint)
 * is exercised end to end. Written by hand: no maintained local Secrets Manager fits in a test.
 */
export interface SecretsManagerEndpoint {
  url: string;
  /** GetSecretValue requests received, failed ones included. */
  readonly getSecretValueCalls: number;
  setSecret(secretId: string, value: string): void;
  /** The next `times` requests fail with a 500 InternalServiceError. */
  failNext(times: number): void;
  close(): Promise<void>;
}

const AMZ_JSON = 'application/x-amz-json-1.1';

export async function startSecretsManager(secrets: Record<string, string>): Promise<SecretsManagerEndpoint> {
  const values = new Map(Object.entries(secrets));
  let calls = 0;
  let failures = 0;

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const reply = (status: number, body: object, errorType?: string) => {
        response.writeHead(status, { 'content-type': AMZ_JSON, ...(errorType === undefined ? {} : { 'x-amzn-errortype': errorType }) });
        response.end(JSON.stringify(errorType === undefined ? body : { __type: errorType, ...body }));
      };
      if (request.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
        return reply(400, { message: 'only GetSecretValue is emulated' }, 'UnknownOperationException');
      }
      calls += 1;
      if (failures > 0) {
        failures -= 1;
        return reply(500, { message: 'injected failure' }, 'InternalServiceError');
      }
      const { SecretId: secretId } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { SecretId?: string };
      const value = secretId === undefined ? undefined : values.get(secretId);
      if (secretId === undefined || value === undefined) {
        return reply(400, { message: "Secrets Manager can't find the specified secret." }, 'ResourceNotFoundException');
      }
      reply(200, {
        ARN: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${secretId}-AbCdEf`,
        Name: secretId,
        SecretString: value,
        VersionId: `v${calls}`,
        VersionStages: ['AWSCURRENT'],
        CreatedDate: Date.now() / 1000,
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get getSecretValueCalls() {
      return calls;
    },
    setSecret: (secretId, value) => {
      values.set(secretId, value);
    },
    failNext: (times) => {
      failures = times;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
