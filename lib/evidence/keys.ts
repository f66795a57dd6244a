import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describeError, logger } from '../platform/logger.ts';
import type { RelayMetrics } from '../platform/metrics.ts';
import { CachedSecret, createSecretsManagerClient, SecretUnavailableError, secretObject } from '../platform/secret.ts';
import { newPrivateJwk, signingKeyOf, type PublicJwk, type SigningKey } from './jwk.ts';
import { verdictSigner, type VerdictSigner } from './verdict.ts';

/** No key can sign verdicts now: checks are refused before any upstream call, never answered unsigned. */
export class SigningKeyUnavailable extends Error {
  override readonly name = 'SigningKeyUnavailable';
}

/** Where the key that signs verdicts, and the public keys a verifier may need, come from. */
export interface SigningKeys {
  /** The signer of the current key; throws SigningKeyUnavailable when no key could be loaded. */
  signer(): Promise<VerdictSigner>;
  /** The public keys `GET /.well-known/jwks.json` lists: the current one first, then any other still in use. */
  publicKeys(): Promise<PublicJwk[]>;
}

export interface SecretsManagerSigningKeysOptions {
  /** SIGNING_KEY_SECRET_ID: name or ARN of the secret holding the private JWK. */
  secretId: string;
  /** Seconds a loaded key is trusted before it is fetched again: a rotation reaches every container within it. */
  maxAgeSeconds: number;
  metrics: RelayMetrics;
  /** Defaults to createSecretsManagerClient(). */
  client?: SecretsManagerClient | undefined;
}

/**
 * How long the JWKS may be cached, by its readers and by the function that reads it from Secrets
 * Manager: a key staged for a rotation is published within twice this.
 */
export const JWKS_MAX_AGE_SECONDS = 300;

/** The version stages besides AWSCURRENT whose keys the JWKS lists: the key before it, and the next one, staged during a rotation. */
const OTHER_STAGES = ['AWSPREVIOUS', 'AWSPENDING'] as const;

const parseSigningKey = (value: string | Uint8Array): SigningKey => signingKeyOf(secretObject(value));

/**
 * The signing key in Secrets Manager, read once per container and cached by Powertools Parameters
 * for `maxAgeSeconds`, as the Deepvue credentials are. Signing uses AWSCURRENT; the JWKS also
 * lists AWSPREVIOUS (so verdicts signed before a rotation still verify) and AWSPENDING (so a key
 * is published before any container signs with it; docs/operating.md, "Rotating the signing key").
 *
 * @example
 * const keys = new SecretsManagerSigningKeys({ secretId: 'liveness-relay/prod/signing-key', maxAgeSeconds: 3600, metrics });
 * const signature = (await keys.signer()).sign(claims);
 */
export class SecretsManagerSigningKeys implements SigningKeys {
  readonly #stage: (versionStage?: string) => CachedSecret<SigningKey>;
  readonly #current: CachedSecret<SigningKey>;
  /** Read by the JWKS only: created with its first request, never in the functions that sign. */
  #others: Array<CachedSecret<SigningKey>> | undefined;
  readonly #metrics: RelayMetrics;
  readonly #maxAgeMs: number;
  /** Stages found empty, and until when that answer holds: most of the time there is no pending key. */
  readonly #emptyUntil = new Map<CachedSecret<SigningKey>, number>();
  #signer: { key: SigningKey; signer: VerdictSigner } | undefined;

  constructor(options: SecretsManagerSigningKeysOptions) {
    const client = options.client ?? createSecretsManagerClient();
    this.#stage = (versionStage) => new CachedSecret({
      secretId: options.secretId,
      maxAgeSeconds: options.maxAgeSeconds,
      what: versionStage === undefined ? 'the signing key' : `the signing key of stage ${versionStage}`,
      parse: parseSigningKey,
      client,
      // A check never waits for a refresh: the key in hand signs until the new one has loaded.
      refreshInBackground: true,
      ...(versionStage === undefined ? {} : { versionStage }),
    });
    this.#current = this.#stage();
    this.#metrics = options.metrics;
    this.#maxAgeMs = options.maxAgeSeconds * 1000;
  }

  async signer(): Promise<VerdictSigner> {
    let key: SigningKey;
    try {
      key = await this.#current.get();
    } catch (error) {
      throw unavailable(error, this.#metrics);
    }
    if (this.#signer?.key !== key) this.#signer = { key, signer: verdictSigner(key) };
    return this.#signer.signer;
  }

  async publicKeys(): Promise<PublicJwk[]> {
    // Every stage is read to its end, failed or not: no request outlives the answer.
    const [current, ...others] = await Promise.allSettled([
      this.#current.get(),
      ...(this.#others ??= OTHER_STAGES.map((stage) => this.#stage(stage))).map((stage) => this.#optional(stage)),
    ]);
    if (current?.status !== 'fulfilled') throw unavailable(current?.reason, this.#metrics);
    const keys = [current.value.publicJwk];
    for (const other of others) {
      if (other.status === 'rejected') throw other.reason;
      if (other.value !== undefined && !keys.some((key) => key.kid === other.value?.kid)) keys.push(other.value.publicJwk);
    }
    return keys;
  }

  /**
   * A stage's key, or undefined when the secret has no version in that stage, or one that is no
   * key (no verdict can have been signed with it: signing refuses it too). A stage that cannot be
   * read throws, so the JWKS is never partial.
   */
  async #optional(stage: CachedSecret<SigningKey>): Promise<SigningKey | undefined> {
    if (Date.now() < (this.#emptyUntil.get(stage) ?? 0)) return undefined;
    try {
      return await stage.get();
    } catch (error) {
      if (!(error instanceof SecretUnavailableError) || error.reason === 'unreachable') throw unavailable(error, this.#metrics);
      if (error.reason === 'malformed') logger.warn('a version of the signing key is not a key; it is left out of the JWKS', { error: error.message });
      this.#emptyUntil.set(stage, Date.now() + this.#maxAgeMs);
      return undefined;
    }
  }
}

/**
 * Local runs without SIGNING_KEY_SECRET_ID (`npm start`, `serverless invoke local`): one key,
 * generated at the first use in the process and shared by every function it runs, so the JWKS
 * route of `npm start` lists the key its checks sign with. It ends with the process.
 */
export class GeneratedSigningKeys implements SigningKeys {
  async signer(): Promise<VerdictSigner> {
    return generated().signer;
  }

  async publicKeys(): Promise<PublicJwk[]> {
    return [generated().key.publicJwk];
  }
}

let generatedKey: { key: SigningKey; signer: VerdictSigner } | undefined;

/** The generated key of this process (see GeneratedSigningKeys), created on first use. */
export function generatedSigningKey(): SigningKey {
  return generated().key;
}

function generated(): { key: SigningKey; signer: VerdictSigner } {
  if (generatedKey === undefined) {
    const key = signingKeyOf({ ...newPrivateJwk() });
    generatedKey = { key, signer: verdictSigner(key) };
    logger.warn('No SIGNING_KEY_SECRET_ID: verdicts are signed with a key generated at start, which ends with this process', { kid: key.kid });
  }
  return generatedKey;
}

/** A deployed function without SIGNING_KEY_SECRET_ID: it cannot sign, so it refuses every check. */
export class MissingSigningKey implements SigningKeys {
  readonly #metrics: RelayMetrics;

  constructor(metrics: RelayMetrics) {
    this.#metrics = metrics;
  }

  async signer(): Promise<VerdictSigner> {
    throw this.#refusal();
  }

  async publicKeys(): Promise<PublicJwk[]> {
    throw this.#refusal();
  }

  #refusal(): SigningKeyUnavailable {
    return unavailable(new Error('SIGNING_KEY_SECRET_ID is not set'), this.#metrics);
  }
}

/** Logs why (never the key), counts it for the alarm, and says so to the caller. */
function unavailable(error: unknown, metrics: RelayMetrics): SigningKeyUnavailable {
  logger.error('the signing key cannot be loaded: verdicts cannot be signed, so checks are refused before any upstream call', {
    error: describeError(error),
  });
  metrics.signingKeyUnavailable();
  return new SigningKeyUnavailable(error instanceof Error ? error.message : String(error));
}

/**
 * The signing keys of a container: SIGNING_KEY_SECRET_ID's secret; else, in a local run, a key
 * generated at start; else none, and every check is refused.
 */
export function signingKeysFor(options: {
  secretId: string | undefined;
  isLocalRun: boolean;
  maxAgeSeconds: number;
  metrics: RelayMetrics;
  /** The container's Secrets Manager client, shared with the Deepvue credentials. */
  client?: SecretsManagerClient | undefined;
}): SigningKeys {
  const { secretId, maxAgeSeconds, metrics, client } = options;
  if (secretId !== undefined) return new SecretsManagerSigningKeys({ secretId, maxAgeSeconds, metrics, client });
  return options.isLocalRun ? new GeneratedSigningKeys() : new MissingSigningKey(options.metrics);
}
