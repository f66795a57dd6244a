import { describeError, logger } from '../platform/logger.ts';
import type { AvoidedCallReason, CheckSource, RelayMetrics } from '../platform/metrics.ts';
import type { CheckOutcome } from './outcome.ts';

/**
 * One metric record and one log line per finished check. Bookkeeping never changes the answer a
 * caller gets, so a failure here is logged and swallowed.
 */
export function recordCheck(metrics: RelayMetrics, source: CheckSource, outcome: CheckOutcome, correlationId: string): void {
  try {
    metrics.checkFinished(source, outcome);
    const avoided = avoidedCallOf(outcome);
    if (avoided !== undefined) metrics.paidCallAvoided(avoided);
    // A repeat under its Idempotency-Key is not a replay, whatever its first answer said.
    if (outcome.replay !== undefined && outcome.replayed !== true) metrics.replayDetected(outcome.replay.kind);
    logger.info('liveness check finished', {
      correlation_id: correlationId,
      source,
      sub_code: outcome.envelope.sub_code,
      status: outcome.status,
      provider: outcome.provider,
      upstream_attempts: outcome.upstream.attempts,
      upstream_latency_ms: outcome.upstream.latencyMs,
      ...(avoided === undefined ? {} : { paid_call_avoided: avoided }),
      ...(outcome.replay === undefined ? {} : { replay: outcome.replay.kind, replay_of: outcome.replay.first_transaction_id }),
    });
  } catch (error) {
    logger.warn('could not record a finished check', { error: describeError(error) });
  }
}

/** Refusals of the image (or the request) the relay makes itself, each one a call Deepvue would have charged. */
const INPUT_REJECTIONS: ReadonlySet<string> = new Set([
  'INVALID_REQUEST',
  'INVALID_BASE64_STRING',
  'INVALID_URL',
  'UNSUPPORTED_IMAGE_FORMAT',
  'PAYLOAD_TOO_LARGE',
  'IDEMPOTENCY_KEY_REUSED',
  'REPLAYED_IMAGE',
]);

/** Why the answer came without a paid call, when it did. */
function avoidedCallOf(outcome: CheckOutcome): AvoidedCallReason | undefined {
  if (outcome.replayed === true) return 'idempotent-replay';
  if (outcome.provider === 'prescreen') return 'prescreen';
  if (outcome.heldBack !== undefined) return 'limiter-wait';
  if (outcome.upstream.attempts > 0) return undefined;
  if (outcome.envelope.sub_code === 'IDEMPOTENCY_IN_PROGRESS') return 'duplicate-delivery';
  return INPUT_REJECTIONS.has(outcome.envelope.sub_code) && outcome.status < 500 ? 'rejected-input' : undefined;
}
