import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { RelayConfig } from './config.ts';
import type { CheckDeps } from '../check/check.ts';
import type { Provider } from '../check/outcome.ts';
import { SecretsManagerCredentials, StaticCredentials, type CredentialsSource } from '../deepvue/credentials.ts';
import { DeepvueClient, UpstreamFailure, type RetryPolicy } from '../deepvue/client.ts';
import { signingKeysFor, type SigningKeys } from '../evidence/keys.ts';
import { logger } from '../platform/logger.ts';
import { createSecretsManagerClient } from '../platform/secret.ts';
import type { RelayMetrics } from '../platform/metrics.ts';
import { DynamoRateStore } from '../rate-limit/dynamo-store.ts';
import { RateLimiter } from '../rate-limit/limiter.ts';
import type { Priority } from '../rate-limit/window-log.ts';
import { loadPixelDecoder, loadPrescreen } from '../prescreen/loader.ts';
import { MemoryTokenCache, type Authorize, type TokenProvider } from '../deepvue/tokens/cache.ts';
import { createTokenTableClient, DynamoTokenStore } from '../deepvue/tokens/dynamo-store.ts';
import { SharedTokenCache } from '../deepvue/tokens/shared-cache.ts';

export interface RelayOptions {
  config: RelayConfig;
  metrics: RelayMetrics;
  /** The upload path retries through its queue, not in process: it passes `{ maxAttempts: 1 }`. */
  retry?: Partial<RetryPolicy>;
  /** Client of `config.tokenTable`; by default one configured by the SDK's environment. */
  tokenTableClient?: DynamoDBClient;
  /** Whose calls these are for the plan's rate limiter: the API's checks (the default) come before uploads. */
  priority?: Priority;
  /** Where the signing key comes from; by default as the configuration says (signingKeysFor). */
  signingKeys?: SigningKeys;
}

/** Who will answer checks under this configuration; known before anything is built. */
export function providerFor(config: RelayConfig): Provider {
  const configured = config.secretId !== undefined || (config.clientId !== undefined && config.clientSecret !== undefined);
  return configured || !config.isLocalRun ? 'deepvue' : 'sandbox';
}

/**
 * Builds the check dependencies of a container once: credentials, one Deepvue client (one
 * keep-alive pool) and the token cache. The sandbox is started only in local runs without any
 * Deepvue configuration; a deployed function without credentials fails every check instead.
 */
export async function createCheckDeps(options: RelayOptions): Promise<CheckDeps> {
  const { config, metrics } = options;
  const provider = providerFor(config);
  // One Secrets Manager client for the container's two secrets.
  const secretsClient = config.secretId !== undefined || config.signingKeySecretId !== undefined ? createSecretsManagerClient() : undefined;
  const signingKeys = options.signingKeys ?? signingKeysFor({
    secretId: config.signingKeySecretId,
    isLocalRun: config.isLocalRun,
    maxAgeSeconds: config.secretMaxAgeSeconds,
    metrics,
    client: secretsClient,
  });
  // Loaded with the container, not by its first check: started once the module has loaded, so
  // that it runs while the runtime waits for the first event rather than before. A key that fails
  // to load is logged and counted here, and every check asks again (a corrected secret is picked
  // up at once).
  setImmediate(() => signingKeys.signer().catch(() => undefined));
  let baseUrl = config.deepvueBaseUrl;
  let credentials: CredentialsSource;
  if (config.secretId !== undefined) {
    credentials = new SecretsManagerCredentials({ secretId: config.secretId, maxAgeSeconds: config.secretMaxAgeSeconds, client: secretsClient });
  } else if (config.clientId !== undefined && config.clientSecret !== undefined) {
    credentials = new StaticCredentials({ clientId: config.clientId, clientSecret: config.clientSecret });
  } else if (provider === 'sandbox') {
    // Local runs only: a deployed function never loads the sandbox.
    const { startSandbox } = await import('../deepvue/sandbox.ts');
    baseUrl = (await startSandbox()).baseUrl;
    credentials = new StaticCredentials({ clientId: 'sandbox', clientSecret: 'sandbox' });
    logger.warn('No Deepvue configuration: answering from the built-in sandbox', { baseUrl });
  } else {
    throw new Error('Deepvue is not configured: set DEEPVUE_SECRET_ID');
  }

  // A token and a plan belong to one upstream and one client: sandboxes of different local runs never share them.
  const subject = async () => `${baseUrl}\n${(await credentials.get()).clientId}`;
  const table = config.tokenTable === undefined
    ? undefined
    : { client: options.tokenTableClient ?? createTokenTableClient(), tableName: config.tokenTable };
  const priority = options.priority ?? 'api';
  const limiter = config.rateLimits.length === 0
    ? undefined
    : new RateLimiter({
      windows: config.rateLimits,
      // The token table holds what all containers share about one Deepvue key: its token, and its calls.
      store: table === undefined ? undefined : new DynamoRateStore(table),
      subject,
      containers: config.rateLimitContainers,
      marginMs: config.rateLimitMarginMs,
      apiReservePercent: config.rateLimitApiReservePercent,
      metrics,
    });
  const beforeCall = async (deadlineAt: number) => {
    await limiter?.acquire(priority, limiter.startBy(deadlineAt));
    metrics.deepvueCallStarted();
  };

  const client = new DeepvueClient({ baseUrl, beforeCall, ...(options.retry === undefined ? {} : { retry: options.retry }) });
  const authorize = authorizeWithRotation(client, credentials, metrics);
  let tokens: TokenProvider = new MemoryTokenCache({ authorize });
  if (table !== undefined) {
    const store = new DynamoTokenStore(table);
    tokens = new SharedTokenCache({ authorize, store, subject, metrics });
  }
  // Loaded with the container when on, so that the first check does not wait for it alone.
  const prescreen = config.prescreen ? loadPrescreen(config.prescreenModule) : undefined;
  const decodePixels = config.prescreen ? loadPixelDecoder(config.prescreenModule) : undefined;
  return { client, credentials, tokens, provider, maxImageBytes: config.maxImageBytes, prescreen, decodePixels, signingKeys };
}

/**
 * Authorize with the cached credentials; when Deepvue refuses them, reload them once from their
 * source (they may have been rotated) and try again only if they changed.
 */
function authorizeWithRotation(client: DeepvueClient, credentials: CredentialsSource, metrics: RelayMetrics): Authorize {
  return async (deadlineAt) => {
    const cached = await credentials.get();
    try {
      const token = await client.authorize(cached, deadlineAt);
      metrics.tokenRenewed();
      return token;
    } catch (error) {
      if (!(error instanceof UpstreamFailure) || error.subCode !== 'UPSTREAM_AUTH_FAILED') throw error;
      const fresh = await credentials.get({ forceFetch: true });
      if (fresh.clientId === cached.clientId && fresh.clientSecret === cached.clientSecret) throw error;
      logger.info('Deepvue refused the cached credentials; retrying with the reloaded ones');
      const token = await client.authorize(fresh, deadlineAt);
      metrics.tokenRenewed();
      return token;
    }
  };
}
