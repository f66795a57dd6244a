import { CredentialsUnavailableError, type CredentialsSource } from '../deepvue/credentials.ts';
import { DeepvueClient, UpstreamFailure, UpstreamUnauthorized, type UpstreamStats } from '../deepvue/client.ts';
import { relayEnvelope, RELAY_STATUS, type Envelope, type RelaySubCode } from '../platform/envelope.ts';
import { prepareImageBytes, prepareImageText, type ImageResult, type PreparedImage } from './image.ts';
import { describeError, logger } from '../platform/logger.ts';
import { CapacityUnavailable } from '../rate-limit/limiter.ts';
import type { TokenProvider } from '../deepvue/tokens/cache.ts';

/** Who decided the answer: Deepvue itself, the local sandbox standing in for it, or the relay's pre-screen (no upstream call). */
export type Provider = 'deepvue' | 'sandbox' | 'prescreen';

/**
 * Every check, however it ends, leaves this module as one of these: the HTTP answer, the stored
 * upload result and the metrics are all read from it, so they cannot disagree.
 */
export interface CheckOutcome {
  status: number;
  envelope: Envelope;
  /** Seconds the caller should wait before trying again (429 and 503). */
  retryAfterSeconds?: number;
  provider: Provider;
  upstream: UpstreamStats;
  /**
   * The plan's rate limiter held the call back (no request was sent): a call could start in
   * `waitMs`, and the full window then admits one call every `paceMs` on average.
   */
  heldBack?: { waitMs: number; paceMs: number };
  /** Served again from the Idempotency-Key record of an earlier request, without an upstream call. */
  replayed?: true;
}

export interface CheckDeps {
  client: DeepvueClient;
  tokens: TokenProvider;
  credentials: CredentialsSource;
  provider: Provider;
  maxImageBytes: number;
  /** PRESCREEN=on: answers an image that cannot pass (no face, several, too small) without an upstream call. */
  prescreen?: Prescreen | undefined;
}

/** The relay's own answer to an acceptable image that cannot pass a liveness check, or undefined to check it upstream. Never throws. */
export type Prescreen = (image: PreparedImage) => Promise<CheckOutcome | undefined>;

/** The image as the caller sent it: the `image` field of a request, or bytes read from S3. */
export type CheckInput = { text: string } | { bytes: Uint8Array };

/**
 * Runs the upstream part of a check once the image is known to be acceptable: `call` asks
 * Deepvue. The HTTP route wraps it in the request's Idempotency-Key record; it must not throw.
 */
export type UpstreamStep = (image: PreparedImage, call: () => Promise<CheckOutcome>) => Promise<CheckOutcome>;

/** An answer the relay makes itself, without (or after) the upstream. */
export function relayOutcome(
  subCode: RelaySubCode,
  message: string,
  provider: Provider,
  extra: { retryAfterSeconds?: number; upstream?: UpstreamStats } = {},
): CheckOutcome {
  return {
    status: RELAY_STATUS[subCode],
    envelope: relayEnvelope(subCode, message),
    ...(extra.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: extra.retryAfterSeconds }),
    provider,
    upstream: extra.upstream ?? { attempts: 0, latencyMs: 0 },
  };
}

/** Reads the untrusted body of `POST /v1/liveness-check`: a JSON object with a non-empty string `image`. */
export function readCheckRequest(body: unknown): { ok: true; image: string } | { ok: false; message: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, message: 'the body must be a JSON object with a string "image"' };
  }
  const image: unknown = Object.hasOwn(body, 'image') ? (body as { image: unknown }).image : undefined;
  if (image === undefined) return { ok: false, message: '"image" is required' };
  if (typeof image !== 'string') return { ok: false, message: '"image" must be a string' };
  if (image.trim() === '') return { ok: false, message: '"image" must not be empty' };
  return { ok: true, image };
}

/**
 * The one path of every liveness check, HTTP or upload: validate the image, obtain a token,
 * call Deepvue, renew the token once on a 401, and turn every failure into an outcome.
 * Never throws.
 *
 * @example
 * const outcome = await checkImage({ text: body.image }, deps, Date.now() + 20_000);
 */
export async function checkImage(
  input: CheckInput,
  deps: CheckDeps,
  deadlineAt: number,
  around: UpstreamStep = (_, call) => call(),
): Promise<CheckOutcome> {
  let prepared: ImageResult;
  try {
    prepared = 'text' in input
      ? await prepareImageText(input.text, deps.maxImageBytes)
      : await prepareImageBytes(input.bytes, deps.maxImageBytes);
  } catch (error) {
    return failedInRelay(error, deps.provider, { attempts: 0, latencyMs: 0 });
  }
  if (!prepared.ok) return relayOutcome(prepared.subCode, prepared.message, deps.provider);
  const { image } = prepared;
  const refused = await deps.prescreen?.(image);
  if (refused !== undefined) return refused;
  return around(image, () => callUpstream(image, deps, deadlineAt));
}

/** Deepvue's answer to an acceptable image, or the relay's own answer when none could be had. */
async function callUpstream(image: PreparedImage, deps: CheckDeps, deadlineAt: number): Promise<CheckOutcome> {
  const upstream: UpstreamStats = { attempts: 0, latencyMs: 0 };
  try {
    const answer = await callWithRenewal(image, deps, deadlineAt, upstream);
    return { status: answer.status, envelope: answer.envelope, provider: deps.provider, upstream };
  } catch (error) {
    if (error instanceof CapacityUnavailable) {
      return {
        ...relayOutcome('RATE_LIMITED', error.message, deps.provider, { retryAfterSeconds: error.retryAfterSeconds, upstream }),
        heldBack: { waitMs: error.waitMs, paceMs: error.paceMs },
      };
    }
    if (error instanceof UpstreamFailure) {
      return relayOutcome(error.subCode, error.message, deps.provider, { retryAfterSeconds: error.retryAfterSeconds, upstream });
    }
    if (error instanceof CredentialsUnavailableError) {
      logger.error('Deepvue credentials unavailable', { error: describeError(error) });
      return relayOutcome('UPSTREAM_UNAVAILABLE', 'the relay cannot load its Deepvue credentials; retry later', deps.provider, {
        retryAfterSeconds: 5,
        upstream,
      });
    }
    return failedInRelay(error, deps.provider, upstream);
  }
}

function failedInRelay(error: unknown, provider: Provider, upstream: UpstreamStats): CheckOutcome {
  logger.error('liveness check failed inside the relay', { error: describeError(error) });
  return relayOutcome('INTERNAL_SERVER_ERROR', 'the relay failed to process the check', provider, { upstream });
}

/** A 401 means the token was revoked or expired early: drop it everywhere, renew once, call once more. */
async function callWithRenewal(image: PreparedImage, deps: CheckDeps, deadlineAt: number, upstream: UpstreamStats) {
  for (let call = 1; ; call += 1) {
    const token = await deps.tokens.get(deadlineAt);
    // Read after the token: a renewal that had to reload rotated credentials is then matched.
    const { clientSecret } = await deps.credentials.get();
    try {
      return await deps.client.checkLiveness(image, token.value, clientSecret, deadlineAt, upstream);
    } catch (error) {
      if (!(error instanceof UpstreamUnauthorized)) throw error;
      if (call === 2) throw new UpstreamFailure('UPSTREAM_AUTH_FAILED', 'Deepvue refused a freshly issued access token');
      await deps.tokens.invalidate(token.value);
    }
  }
}
