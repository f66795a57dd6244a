import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CachedSecret, secretObject } from '../platform/secret.ts';

/** Deepvue API credentials. `clientSecret` is also the `x-api-key` of every liveness check. */
export interface Credentials {
  clientId: string;
  clientSecret: string;
}

/** Where the relay's Deepvue credentials come from. */
export interface CredentialsSource {
  /** `forceFetch` bypasses caches: used when the upstream has just rejected the cached credentials. */
  get(options?: { forceFetch?: boolean }): Promise<Credentials>;
}

/** Raised when the credentials cannot be loaded at all: the relay answers 503, never 500. */
export class CredentialsUnavailableError extends Error {
  override readonly name = 'CredentialsUnavailableError';
}

export interface SecretsManagerCredentialsOptions {
  /** Name or ARN of a secret whose value is JSON `{"client_id": "...", "client_secret": "..."}`. */
  secretId: string;
  /** Seconds a loaded secret is trusted before it is fetched again. */
  maxAgeSeconds: number;
  /** Defaults to a client configured by the SDK's own environment (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, ...). */
  client?: SecretsManagerClient | undefined;
}

/**
 * Credentials from Secrets Manager, fetched once per container and cached by Powertools
 * Parameters. If Secrets Manager fails after the first load, the last good value keeps serving.
 *
 * @example
 * const credentials = new SecretsManagerCredentials({ secretId: process.env.DEEPVUE_SECRET_ID!, maxAgeSeconds: 3600 });
 * const { clientId } = await credentials.get();
 */
export class SecretsManagerCredentials implements CredentialsSource {
  readonly #secret: CachedSecret<Credentials>;

  constructor(options: SecretsManagerCredentialsOptions) {
    this.#secret = new CachedSecret({ ...options, parse: parseSecret, what: 'the Deepvue credentials' });
  }

  async get(options: { forceFetch?: boolean } = {}): Promise<Credentials> {
    try {
      return await this.#secret.get(options);
    } catch (error) {
      throw new CredentialsUnavailableError((error as Error).message);
    }
  }
}

/** Credentials from `DEEPVUE_CLIENT_ID` / `DEEPVUE_CLIENT_SECRET`, for local runs. */
export class StaticCredentials implements CredentialsSource {
  readonly #credentials: Credentials;

  constructor(credentials: Credentials) {
    this.#credentials = credentials;
  }

  async get(): Promise<Credentials> {
    return this.#credentials;
  }
}

function parseSecret(value: string | Uint8Array): Credentials {
  const { client_id: clientId, client_secret: clientSecret } = secretObject(value);
  if (typeof clientId !== 'string' || clientId === '' || typeof clientSecret !== 'string' || clientSecret === '') {
    throw new Error('the secret must be JSON with non-empty "client_id" and "client_secret"');
  }
  return { clientId, clientSecret };
}
