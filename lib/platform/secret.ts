import { Buffer } from 'node:buffer';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { describeError, logger } from './logger.ts';

/**
 * The SDK waits forever by default: a Secrets Manager it cannot reach (a function in a VPC
 * without an endpoint) would hold every request until Lambda's timeout instead of failing it.
 */
const SDK_TIMEOUTS = { connectionTimeout: 1000, requestTimeout: 2000, throwOnRequestTimeout: true };

/** A Secrets Manager client configured by the SDK's own environment, that gives up instead of hanging; one per container is enough. */
export const createSecretsManagerClient = (): SecretsManagerClient => new SecretsManagerClient({ requestHandler: SDK_TIMEOUTS });

/**
 * After a refresh failed, the last good value serves this long before Secrets Manager is asked
 * again: otherwise, while it hangs, every request would wait out the SDK's timeouts (6 s) first.
 */
export const FAILED_REFRESH_PAUSE_MS = 60_000;

/**
 * No value of the secret could be loaded: Secrets Manager has no such secret or version
 * (`missing`), its value does not parse (`malformed`), or it could not be read (`unreachable`).
 */
export class SecretUnavailableError extends Error {
  override readonly name = 'SecretUnavailableError';
  readonly reason: 'missing' | 'malformed' | 'unreachable';

  constructor(message: string, reason: SecretUnavailableError['reason']) {
    super(message);
    this.reason = reason;
  }
}

/** A value that came back from Secrets Manager but does not parse. */
class MalformedSecret extends Error {
  override readonly name = 'MalformedSecret';
}

export interface CachedSecretOptions<T> {
  /** Name or ARN of the secret. */
  secretId: string;
  /** Seconds a loaded value is trusted before it is fetched again. */
  maxAgeSeconds: number;
  /** Turns the secret's value into what it holds; throws an Error whose message never quotes the value. */
  parse: (value: string | Uint8Array) => T;
  /** What the secret holds, for log lines: `the Deepvue credentials`. */
  what: string;
  /** `AWSCURRENT` unless given (`AWSPREVIOUS`, `AWSPENDING`). */
  versionStage?: string;
  /** Defaults to createSecretsManagerClient(). */
  client?: SecretsManagerClient | undefined;
  /**
   * Once loaded, serve the value at once and refresh it past `maxAgeSeconds` in the background:
   * for a value whose refresh must never delay a request (the signing key).
   */
  refreshInBackground?: boolean;
}

/**
 * One version stage of a Secrets Manager secret, fetched once per container and cached by
 * Powertools Parameters for `maxAgeSeconds`. If Secrets Manager fails after the first load, the
 * last good value keeps serving; concurrent callers of a cold container share one fetch.
 *
 * @example
 * const secret = new CachedSecret({ secretId, maxAgeSeconds: 3600, what: 'the signing key', parse: parseSigningKey });
 * const key = await secret.get();
 */
export class CachedSecret<T> {
  readonly #options: CachedSecretOptions<T>;
  readonly #provider: SecretsProvider;
  #lastGood: T | undefined;
  /** The value `#lastGood` was parsed from: a cached value is parsed once, not at every get. */
  #lastValue: string | Uint8Array | undefined;
  #pending: Promise<T> | undefined;
  #pausedUntil = 0;
  /** Until when `#lastGood` is fresh (refreshInBackground). */
  #freshUntil = 0;

  constructor(options: CachedSecretOptions<T>) {
    this.#options = options;
    this.#provider = new SecretsProvider({ awsSdkV3Client: options.client ?? createSecretsManagerClient() });
  }

  /** `forceFetch` bypasses caches: for when the value in use has just been refused. */
  get(options: { forceFetch?: boolean } = {}): Promise<T> {
    if (this.#lastGood !== undefined && options.forceFetch !== true) {
      if (Date.now() < this.#pausedUntil) return Promise.resolve(this.#lastGood);
      if (this.#options.refreshInBackground === true) {
        // A failed refresh keeps the last good value (and is logged by #load): nothing to handle here.
        if (Date.now() >= this.#freshUntil) void this.#shared(false);
        return Promise.resolve(this.#lastGood);
      }
    }
    return this.#shared(options.forceFetch === true);
  }

  #shared(forceFetch: boolean): Promise<T> {
    this.#pending ??= this.#load(forceFetch).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #load(forceFetch: boolean): Promise<T> {
    const { secretId, maxAgeSeconds, versionStage, what } = this.#options;
    try {
      // Until one value has parsed, bypass the cache: Powertools keeps whatever it fetched, and a
      // malformed secret corrected in Secrets Manager would otherwise fail requests for maxAge.
      const value = await this.#provider.get(secretId, {
        maxAge: maxAgeSeconds,
        forceFetch: forceFetch || this.#lastGood === undefined,
        throwOnMissing: true,
        ...(versionStage === undefined ? {} : { sdkOptions: { VersionStage: versionStage } }),
      });
      if (value === undefined) throw new Error('the secret has no value');
      if (this.#lastGood === undefined || value !== this.#lastValue) {
        this.#lastGood = this.#parse(value);
        this.#lastValue = value;
      }
      this.#freshUntil = Date.now() + maxAgeSeconds * 1000;
      return this.#lastGood;
    } catch (error) {
      if (this.#lastGood !== undefined) {
        logger.warn(`Secrets Manager failed; serving the last loaded value of ${what}`, { error: describeError(error) });
        this.#pausedUntil = Date.now() + FAILED_REFRESH_PAUSE_MS;
        return this.#lastGood;
      }
      const reason = error instanceof MalformedSecret ? 'malformed' : error instanceof Error && error.name === 'ParameterNotFoundError' ? 'missing' : 'unreachable';
      throw new SecretUnavailableError(`cannot load ${what}: ${error instanceof MalformedSecret ? error.message : describeError(error)}`, reason);
    }
  }

  #parse(value: string | Uint8Array): T {
    try {
      return this.#options.parse(value);
    } catch (error) {
      throw new MalformedSecret(error instanceof Error ? error.message : String(error));
    }
  }
}

/**
 * The JSON object a secret's text holds. The errors never quote the text: JSON.parse's own
 * message would show a piece of it, and a secret's value never reaches a log.
 */
export function secretObject(value: string | Uint8Array): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : Buffer.from(value).toString('utf8'));
  } catch {
    throw new Error('the secret is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the secret is not a JSON object');
  return parsed as Record<string, unknown>;
}
