import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { CredentialsUnavailableError, SecretsManagerCredentials, StaticCredentials, type CredentialsSource } from '../../../lib/deepvue/credentials.ts';
import { startSecretsManager, type SecretsManagerEndpoint } from '../../support/secrets-manager.ts';

const SECRET_ID = 'deepvue/liveness-relay';
const secretOf = (clientId: string, clientSecret: string) => JSON.stringify({ client_id: clientId, client_secret: clientSecret });

let secrets: SecretsManagerEndpoint;
let client: SecretsManagerClient;

beforeAll(async () => {
  secrets = await startSecretsManager({});
  client = new SecretsManagerClient({
    endpoint: secrets.url,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  client.destroy();
  await secrets.close();
});
beforeEach(() => {
  secrets.failNext(0);
  secrets.setSecret(SECRET_ID, secretOf('relay-client', 'secret-1'));
});

const source = (maxAgeSeconds = 3600) => new SecretsManagerCredentials({ secretId: SECRET_ID, maxAgeSeconds, client });

/** GetSecretValue calls made while `run` runs. */
async function fetchesDuring(run: () => Promise<unknown>): Promise<number> {
  const before = secrets.getSecretValueCalls;
  await run();
  return secrets.getSecretValueCalls - before;
}

describe('SecretsManagerCredentials', () => {
  it('parses the secret and fetches it once while it is fresh', async () => {
    const credentials = source();
    const fetches = await fetchesDuring(async () => {
      for (let index = 0; index < 5; index += 1) {
        expect(await credentials.get()).toEqual({ clientId: 'relay-client', clientSecret: 'secret-1' });
      }
    });
    expect(fetches).toBe(1);
  });

  it('ignores fields other than client_id and client_secret', async () => {
    secrets.setSecret(SECRET_ID, JSON.stringify({ client_id: 'a', client_secret: 'b', plan: 'starter' }));
    expect(await source().get()).toEqual({ clientId: 'a', clientSecret: 'b' });
  });

  it('shares one fetch among concurrent first callers', async () => {
    const credentials = source();
    expect(await fetchesDuring(() => Promise.all([credentials.get(), credentials.get(), credentials.get()]))).toBe(1);
  });

  it('fetches again with forceFetch, and serves the new value from then on', async () => {
    const credentials = source();
    await credentials.get();
    secrets.setSecret(SECRET_ID, secretOf('relay-client', 'secret-2'));
    expect(await credentials.get()).toEqual({ clientId: 'relay-client', clientSecret: 'secret-1' });
    expect(await fetchesDuring(() => credentials.get({ forceFetch: true }))).toBe(1);
    expect(await credentials.get()).toEqual({ clientId: 'relay-client', clientSecret: 'secret-2' });
  });

  it('fetches again once the value is older than maxAgeSeconds', async () => {
    const credentials = source(1);
    await credentials.get();
    await sleep(1100);
    expect(await fetchesDuring(() => credentials.get())).toBe(1);
  });

  it('keeps serving the last good value when Secrets Manager fails later', async () => {
    const credentials = source();
    await credentials.get();
    secrets.failNext(1);
    expect(await credentials.get({ forceFetch: true })).toEqual({ clientId: 'relay-client', clientSecret: 'secret-1' });
  });

  it('raises CredentialsUnavailableError when nothing was ever loaded', async () => {
    secrets.failNext(1);
    await expect(source().get()).rejects.toBeInstanceOf(CredentialsUnavailableError);
  });

  it.each([
    ['not JSON', 'client_id=relay-client&client_secret=secret-1'],
    ['JSON without client_secret', JSON.stringify({ client_id: 'relay-client' })],
    ['JSON with an empty client_id', secretOf('', 'secret-1')],
    ['a JSON string', JSON.stringify('secret-1')],
  ])('refuses a secret that is %s without echoing it, and loads it once corrected', async (_, value) => {
    secrets.setSecret(SECRET_ID, value);
    const credentials = source();
    const failure = await credentials.get().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CredentialsUnavailableError);
    expect((failure as Error).message).not.toContain('secret-1');

    secrets.setSecret(SECRET_ID, secretOf('relay-client', 'secret-1'));
    expect(await credentials.get()).toEqual({ clientId: 'relay-client', clientSecret: 'secret-1' });
  });
});

describe('SecretsManagerCredentials with its own SDK client', () => {
  afterAll(() => vi.unstubAllEnvs());

  it('gives up on a Secrets Manager that never answers instead of waiting for Lambda’s timeout', async () => {
    // The SDK's own variables configure the client it builds; one attempt keeps the test short.
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', secrets.url);
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    vi.stubEnv('AWS_MAX_ATTEMPTS', '1');
    secrets.failNext(1, 'hang');
    const started = Date.now();
    const credentials = new SecretsManagerCredentials({ secretId: SECRET_ID, maxAgeSeconds: 3600 });
    await expect(credentials.get()).rejects.toBeInstanceOf(CredentialsUnavailableError);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(await credentials.get()).toEqual({ clientId: 'relay-client', clientSecret: 'secret-1' });
  }, 8000);
});

describe('StaticCredentials', () => {
  it('returns the configured pair, forced or not', async () => {
    const credentials: CredentialsSource = new StaticCredentials({ clientId: 'local', clientSecret: 'local-secret' });
    expect(await credentials.get()).toEqual({ clientId: 'local', clientSecret: 'local-secret' });
    expect(await credentials.get({ forceFetch: true })).toEqual({ clientId: 'local', clientSecret: 'local-secret' });
  });
});
