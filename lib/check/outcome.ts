import type { UpstreamStats } from '../deepvue/client.ts';
import type { VerdictClaims, VerdictSubject } from '../evidence/verdict.ts';
import { relayEnvelope, RELAY_STATUS, verdictOf, type Envelope, type RelaySubCode } from '../platform/envelope.ts';
import type { PreparedImage } from './image.ts';

/** Who decided the answer: Deepvue itself, the local sandbox standing in for it, or the relay's pre-screen (no upstream call). */
export type Provider = 'deepvue' | 'sandbox' | 'prescreen';

/**
 * Every check, however it ends, comes out of checkImage as one of these: the HTTP answer, the
 * stored upload result and the metrics are all read from it, so they cannot disagree.
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
  /**
   * The verdict's compact JWS (lib/evidence/), on every outcome that carries a verdict: an
   * upstream envelope or a pre-screen answer, never the relay's own refusals. The HTTP answer,
   * the stored result and the session result all carry this one.
   */
  signature?: string;
}

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

/**
 * What the signature of a verdict says: read from the outcome the caller is answered with, so
 * the two cannot disagree. A field the envelope lacks, or holds in another type, is null.
 */
export function verdictClaims(outcome: CheckOutcome, image: PreparedImage, about: VerdictSubject): VerdictClaims {
  const { envelope } = outcome;
  const data: unknown = envelope.data;
  const score = typeof data === 'object' && data !== null ? (data as { score?: unknown }).score : undefined;
  return {
    transaction_id: typeof envelope.transaction_id === 'string' ? envelope.transaction_id : null,
    sub_code: envelope.sub_code,
    is_live: verdictOf(envelope) ?? null,
    score: typeof score === 'number' && Number.isFinite(score) ? score : null,
    image_sha256: image.kind === 'base64' ? image.sha256 : null,
    source: about.source,
    subject: about.subject,
    // Replay detection is to put `replay` on the outcome; this line then reads `outcome.replay?.kind ?? null`.
    replay: null,
    iat: Math.floor(Date.now() / 1000),
  };
}
