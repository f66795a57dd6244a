import { parseRateLimits, type RateWindow } from '../rate-limit/limits.ts';

/**
 * The relay's configuration, read once per container from the environment (see
 * docs/configuration.md). Invalid values fail loudly at start rather than half-working.
 */
export interface RelayConfig {
  deepvueBaseUrl: string;
  /** Secrets Manager secret (name or ARN) holding `{"client_id","client_secret"}`. */
  secretId: string | undefined;
  /** Local alternative to the secret; ignored when `secretId` is set. */
  clientId: string | undefined;
  clientSecret: string | undefined;
  tokenTable: string | undefined;
  resultsTable: string | undefined;
  /** How long upload results (and their idempotency claims) are kept, through the table's TTL. */
  resultsRetentionDays: number;
  uploadBucket: string | undefined;
  uploadPrefix: string;
  /**
   * How long an uploaded image is kept once its result is recorded: 0, deleted at once by the
   * upload path; more, left to the bucket's lifecycle rule (set from the same parameter).
   */
  keepUploadsHours: number;
  /** The upload queue's `maxReceiveCount`: the receive on which a transient failure is recorded FAILED. */
  uploadMaxReceiveCount: number;
  /** EventBridge bus of `Liveness Check Completed` events; unset, no events are published. */
  eventBusName: string | undefined;
  maxImageBytes: number;
  metricsNamespace: string;
  /** Upper bound of the time one check may spend upstream, retries included. */
  upstreamDeadlineMs: number;
  /** How long a loaded secret is trusted before it is fetched again. */
  secretMaxAgeSeconds: number;
  /** Secrets Manager secret (name or ARN) holding the Ed25519 private JWK that signs verdicts; unset in a local run: a key generated at start. */
  signingKeySecretId: string | undefined;
  /** How long a liveness session accepts its upload. */
  sessionTtlSeconds: number;
  /**
   * Where the capture page is served, when not by this stack's own API on its execute-api domain
   * (a custom domain, say; npm start sets its own origin's): capture_url is this, never a
   * request's Host. Unset: the /capture page of the API that invoked the function.
   */
  capturePageUrl: string | undefined;
  /** True in `npm start` and `serverless invoke local`, where the sandbox may stand in for Deepvue. */
  isLocalRun: boolean;
  /** DEEPVUE_RATE_LIMITS: the plan's windows the relay keeps to; empty for no relay-side limit. */
  rateLimits: RateWindow[];
  /** Containers expected to call Deepvue at once: each one's share of the plan when the limiter's table fails. */
  rateLimitContainers: number;
  /** Added to every window, for the varying delay between a grant and the call reaching Deepvue. */
  rateLimitMarginMs: number;
  /** Share of every window that uploads leave to API checks, in percent. */
  rateLimitApiReservePercent: number;
  /** PRESCREEN=on: faces are counted and measured before a paid call (lib/prescreen/). */
  prescreen: boolean;
  /** The pre-screen's module when it is not beside the sources: its built package's, deployed. */
  prescreenModule: string | undefined;
}

type Env = Record<string, string | undefined>;

const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === '' ? undefined : value.trim();

const positiveInteger = (env: Env, name: string, fallback: number): number => {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  }
  return value;
};

const nonNegativeInteger = (env: Env, name: string, fallback: number): number => {
  const raw = nonEmpty(env[name]);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a whole number, got "${raw}"`);
  return value;
};

const percentBelow100 = (env: Env, name: string, fallback: number): number => {
  const value = nonNegativeInteger(env, name, fallback);
  if (value > 99) throw new Error(`${name} must be a percentage from 0 to 99, got "${value}"`);
  return value;
};

const onOff = (env: Env, name: string): boolean => {
  const raw = nonEmpty(env[name])?.toLowerCase() ?? 'off';
  if (raw !== 'on' && raw !== 'off') throw new Error(`${name} must be "on" or "off", got "${raw}"`);
  return raw === 'on';
};

export function readConfig(env: Env = process.env): RelayConfig {
  return {
    deepvueBaseUrl: (nonEmpty(env.DEEPVUE_BASE_URL) ?? 'https://production.deepvue.tech').replace(/\/+$/, ''),
    secretId: nonEmpty(env.DEEPVUE_SECRET_ID),
    clientId: nonEmpty(env.DEEPVUE_CLIENT_ID),
    clientSecret: nonEmpty(env.DEEPVUE_CLIENT_SECRET),
    tokenTable: nonEmpty(env.TOKEN_TABLE),
    resultsTable: nonEmpty(env.RESULTS_TABLE),
    resultsRetentionDays: positiveInteger(env, 'RESULTS_RETENTION_DAYS', 30),
    uploadBucket: nonEmpty(env.UPLOAD_BUCKET),
    uploadPrefix: env.UPLOAD_PREFIX ?? 'uploads/',
    keepUploadsHours: nonNegativeInteger(env, 'KEEP_UPLOADS_HOURS', 0),
    uploadMaxReceiveCount: positiveInteger(env, 'UPLOAD_MAX_RECEIVE_COUNT', 5),
    eventBusName: nonEmpty(env.EVENT_BUS_NAME),
    maxImageBytes: positiveInteger(env, 'MAX_IMAGE_BYTES', 4 * 1024 * 1024),
    metricsNamespace: nonEmpty(env.METRICS_NAMESPACE) ?? 'LivenessRelay',
    upstreamDeadlineMs: positiveInteger(env, 'UPSTREAM_DEADLINE_MS', 20_000),
    secretMaxAgeSeconds: positiveInteger(env, 'SECRET_MAX_AGE_SECONDS', 3600),
    signingKeySecretId: nonEmpty(env.SIGNING_KEY_SECRET_ID),
    sessionTtlSeconds: positiveInteger(env, 'SESSION_TTL_SECONDS', 300),
    capturePageUrl: nonEmpty(env.CAPTURE_PAGE_URL),
    isLocalRun: env.IS_OFFLINE === 'true' || env.IS_LOCAL === 'true' || env.AWS_LAMBDA_FUNCTION_NAME === undefined,
    rateLimits: parseRateLimits(env.DEEPVUE_RATE_LIMITS),
    rateLimitContainers: positiveInteger(env, 'DEEPVUE_RATE_CONTAINERS', 4),
    rateLimitMarginMs: nonNegativeInteger(env, 'DEEPVUE_RATE_MARGIN_MS', 100),
    rateLimitApiReservePercent: percentBelow100(env, 'DEEPVUE_RATE_API_RESERVE_PERCENT', 20),
    prescreen: onOff(env, 'PRESCREEN'),
    prescreenModule: nonEmpty(env.PRESCREEN_MODULE),
  };
}
