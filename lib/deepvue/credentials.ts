import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { describeError, logger } from '../platform/logger.ts';

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
  client?: SecretsManagerClient;
}

/**
 * The SDK waits forever by default: a Secrets Manager it cannot reach (a function in a VPC
 * without an endpoint) would hold every check until Lambda's timeout instead of failing it.
 */
const SDK_TIMEOUTS = { connectionTimeout: 1000, requestTimeout: 2000, throwOnRequestTimeout: true };

/**
 * After a refresh failed, the last good value serves this long before Secrets Manager is asked
 * again: otherwise, while it hangs, every check would wait out the SDK's timeouts (6 s) first.
 */
export const FAILED_REFRESH_PAUSE_MS = 60_000;

/**
 * Credentials from Secrets Manager, fetched once per container and cached by Powertools
 * Parameters. If Secrets Manager fails after the first load, the last good value keeps serving.
 *
 * @example
 * const credentials = new SecretsManagerCredentials({ secretId: process.env.DEEPVUE_SECRET_ID!, maxAgeSeconds: 3600 });
 * const { clientId } = await credentials.get();
 */
export class SecretsManagerCredentials implements CredentialsSource {
  readonly #secretId: string;
  readonly #maxAge: number;
  readonly #provider: SecretsProvider;
  #lastGood: Credentials | undefined;
  #pending: Promise<Credentials> | undefined;
  #pausedUntil = 0;

  constructor(options: SecretsManagerCredentialsOptions) {
    this.#secretId = options.secretId;
    this.#maxAge = options.maxAgeSeconds;
    this.#provider = new SecretsProvider({ awsSdkV3Client: options.client ?? new SecretsManagerClient({ requestHandler: SDK_TIMEOUTS }) });
  }

  get(options: { forceFetch?: boolean } = {}): Promise<Credentials> {
    if (this.#lastGood !== undefined && options.forceFetch !== true && Date.now() < this.#pausedUntil) {
      return Promise.resolve(this.#lastGood);
    }
    // Concurrent callers of a cold container share one fetch instead of each paying for one.
    this.#pending ??= this.#load(options.forceFetch === true).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #load(forceFetch: boolean): Promise<Credentials> {
    try {
      // Until one value has parsed, bypass the cache: Powertools keeps whatever it fetched, and a
      // malformed secret corrected in Secrets Manager would otherwise fail checks for maxAge.
      const value = await this.#provider.get(this.#secretId, {
        maxAge: this.#maxAge,
        forceFetch: forceFetch || this.#lastGood === undefined,
      });
      this.#lastGood = parseSecret(value);
      return this.#lastGood;
    } catch (error) {
      if (this.#lastGood !== undefined) {
        logger.warn('Secrets Manager failed; serving the last loaded credentials', { error: describeError(error) });
        this.#pausedUntil = Date.now() + FAILED_REFRESH_PAUSE_MS;
        return this.#lastGood;
      }
      throw new CredentialsUnavailableError(`cannot load the Deepvue credentials: ${describeError(error)}`);
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

function parseSecret(value: unknown): Credentials {
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new Error('the secret is not JSON');
    }
  }
  const record = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const { client_id: clientId, client_secret: clientSecret } = record;
  if (typeof clientId !== 'string' || clientId === '' || typeof clientSecret !== 'string' || clientSecret === '') {
    throw new Error('the secret must be JSON with non-empty "client_id" and "client_secret"');
  }
  return { clientId, clientSecret };
}
