import { DeepvueClient, UpstreamFailure, UpstreamUnauthorized, type UpstreamStats } from '../deepvue/client.ts';
import { CredentialsUnavailableError, type CredentialsSource } from '../deepvue/credentials.ts';
import type { TokenProvider } from '../deepvue/tokens/cache.ts';
import type { SigningKeys } from '../evidence/keys.ts';
import type { VerdictSigner, VerdictSubject } from '../evidence/verdict.ts';
import { describeError, logger } from '../platform/logger.ts';
import { CapacityUnavailable } from '../rate-limit/limiter.ts';
import { prepareImageBytes, prepareImageText, type ImageResult, type PreparedImage } from './image.ts';
import { relayOutcome, verdictClaims, type CheckOutcome, type Provider } from './outcome.ts';
import { checkPixels, type CheckPixels, type PixelDecoder } from './pixels.ts';

export interface CheckDeps {
  client: DeepvueClient;
  tokens: TokenProvider;
  credentials: CredentialsSource;
  provider: Provider;
  maxImageBytes: number;
  /** PRESCREEN=on: answers an image that cannot pass (no face, several, too small) without an upstream call. */
  prescreen?: Prescreen | undefined;
  /** Decodes the pixels the steps before the upstream call read, once per check; loaded at run time with the pre-screen. */
  decodePixels?: PixelDecoder | undefined;
  /** The key every verdict is signed with; without one, no check is made. */
  signingKeys: SigningKeys;
}

/**
 * The relay's own answer to an acceptable image that cannot pass a liveness check, or undefined
 * to check it upstream; `pixels` are the image's, decoded once for every step that reads them.
 * Never throws.
 */
export type Prescreen = (image: PreparedImage, pixels: CheckPixels) => Promise<CheckOutcome | undefined>;

/**
 * The image as the caller sent it: the `image` field of a request, or bytes read from S3 with
 * what their verdict is about (the object key, or the session).
 */
export type CheckInput = { text: string } | { bytes: Uint8Array; about: Exclude<VerdictSubject, { source: 'api' }> };

const API_CHECK: VerdictSubject = { source: 'api', subject: null };

/**
 * Runs the upstream part of a check once the image is known to be acceptable: `call` runs the
 * pre-screen, when on, and asks Deepvue. The HTTP route wraps it in the request's
 * Idempotency-Key record; it must not throw.
 */
export type UpstreamStep = (image: PreparedImage, call: () => Promise<CheckOutcome>) => Promise<CheckOutcome>;

/**
 * The one path of every liveness check, HTTP or upload: validate the image, make sure the
 * verdict can be signed, obtain a token, call Deepvue, renew the token once on a 401, sign the
 * verdict, and turn every failure into an outcome. Never throws.
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
  // Before anything is paid for: a verdict that cannot be signed is never handed out.
  let signer: VerdictSigner;
  try {
    signer = await deps.signingKeys.signer();
  } catch {
    return relayOutcome('INTERNAL_SERVER_ERROR', 'the relay cannot sign verdicts now, so it made no check; retry later', deps.provider);
  }
  const about = 'text' in input ? API_CHECK : input.about;
  const signed = (verdict: CheckOutcome): CheckOutcome => ({ ...verdict, signature: signer.sign(verdictClaims(verdict, image, about)) });
  const pixels = checkPixels(image, deps.decodePixels);
  // Inside the upstream step: under an Idempotency-Key, a refusal is the key's answer like Deepvue's.
  return around(image, async () => {
    const screened = await deps.prescreen?.(image, pixels);
    return screened === undefined ? callUpstream(image, deps, deadlineAt, signed) : signed(screened);
  });
}

/** Deepvue's answer to an acceptable image, `signed`, or the relay's own answer when none could be had. */
async function callUpstream(
  image: PreparedImage,
  deps: CheckDeps,
  deadlineAt: number,
  signed: (verdict: CheckOutcome) => CheckOutcome,
): Promise<CheckOutcome> {
  const upstream: UpstreamStats = { attempts: 0, latencyMs: 0 };
  try {
    const answer = await callWithRenewal(image, deps, deadlineAt, upstream);
    return signed({ status: answer.status, envelope: answer.envelope, provider: deps.provider, upstream });
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
