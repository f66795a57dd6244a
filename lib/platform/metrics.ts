import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricUnit as Unit } from '@aws-lambda-powertools/metrics/types';
import { verdictOf, type Envelope } from './envelope.ts';

export type CheckSource = 'api' | 's3';

/**
 * Why a paid Deepvue call was not made: a delivery of an upload already checked, an answer
 * served again from its idempotency record, input the relay refused itself, the plan's rate
 * limit making the check wait (an API check answered 429, an upload sent back to its queue), or
 * the pre-screen finding no face, several, or one too small (PRESCREEN=on).
 */
export type AvoidedCallReason = 'duplicate-delivery' | 'idempotent-replay' | 'rejected-input' | 'limiter-wait' | 'prescreen';

/**
 * Why an object that reached a session's key was deleted on arrival, unchecked: the session had
 * its image already, or had expired; no form was valid when it arrived; it was of a type or
 * size no form allowed; no session has the key.
 */
export type DiscardReason = 'session-used' | 'session-expired' | 'form-expired' | 'type-not-allowed' | 'too-large' | 'no-session';

/** What a finished check tells the metrics; read from the same value the caller is answered with. */
export interface FinishedCheck {
  envelope: Envelope;
  upstream: { attempts: number; latencyMs: number };
}

/** CloudWatch drops a dimension that is blank or over 1,024 characters; an upstream sub_code may be either. */
const MAX_DIMENSION_CHARS = 1024;
const dimensionValue = (subCode: string): string =>
  subCode.trim() === '' ? '(blank)' : subCode.slice(0, MAX_DIMENSION_CHARS);

/**
 * CloudWatch metrics in Embedded Metric Format, written to stdout. Each record carries only its
 * own dimensions (no default `service` dimension), and is written as soon as it is complete, so
 * checks handled in one invocation never share or mix dimensions.
 *
 * @example
 * const metrics = new RelayMetrics({ namespace: 'LivenessRelay' });
 * metrics.checkFinished('api', outcome); // LivenessCheck{SubCode,Source} = 1, and friends
 */
export class RelayMetrics {
  readonly #emf: Metrics;

  constructor(options: { namespace: string }) {
    this.#emf = new Metrics({ namespace: options.namespace });
    this.#emf.clearDefaultDimensions();
  }

  /** Exactly one `LivenessCheck` record per finished check, plus its verdict and upstream cost. */
  checkFinished(source: CheckSource, check: FinishedCheck): void {
    this.#publish({ SubCode: dimensionValue(check.envelope.sub_code), Source: source }, [['LivenessCheck', MetricUnit.Count, 1]]);
    const isLive = verdictOf(check.envelope);
    if (isLive !== undefined) {
      this.#publish({ Verdict: isLive ? 'live' : 'spoof', Source: source }, [['LivenessVerdict', MetricUnit.Count, 1]]);
    }
    if (check.upstream.attempts > 0) {
      this.#publish({ Source: source }, [
        ['UpstreamLatency', MetricUnit.Milliseconds, check.upstream.latencyMs],
        ['UpstreamAttempts', MetricUnit.Count, check.upstream.attempts],
      ]);
    }
  }

  /** A new access token was obtained from Deepvue's authorize. */
  tokenRenewed(): void {
    this.#publish({}, [['TokenRenewals', MetricUnit.Count, 1]]);
  }

  /** The shared token tier failed and the memory tier answered alone. */
  tokenCacheFellBack(): void {
    this.#publish({}, [['TokenCacheFallbacks', MetricUnit.Count, 1]]);
  }

  /** A liveness-check request is about to be sent to Deepvue (retries included): what the plan's quota counts. */
  deepvueCallStarted(): void {
    this.#publish({}, [['DeepvueCalls', MetricUnit.Count, 1]]);
  }

  /** A paid call the relay did not make, and why. */
  paidCallAvoided(reason: AvoidedCallReason): void {
    this.#publish({ Reason: reason }, [['PaidCallsAvoided', MetricUnit.Count, 1]]);
  }

  /** Everything held about an upload or a session was erased on request: the operator's receipt. */
  erased(record: 'upload' | 'session'): void {
    this.#publish({ Record: record }, [['Erasures', MetricUnit.Count, 1]]);
  }

  /** An object version at a session's key was deleted on arrival without a check. */
  uploadDiscarded(reason: DiscardReason): void {
    this.#publish({ Reason: reason }, [['UploadsDiscarded', MetricUnit.Count, 1]]);
  }

  /** The limiter's table failed: this call was admitted by the container's share of the plan alone. */
  rateLimiterFellBack(): void {
    this.#publish({}, [['RateLimiterFallbacks', MetricUnit.Count, 1]]);
  }

  /** The key that signs verdicts could not be loaded: a check refused before its upstream call, or a JWKS not served. */
  signingKeyUnavailable(): void {
    this.#publish({}, [['SigningKeyUnavailable', MetricUnit.Count, 1]]);
  }

  /** Synchronous from first add to publish, so concurrent checks cannot interleave records. */
  #publish(dimensions: Record<string, string>, values: Array<[string, Unit, number]>): void {
    this.#emf.addDimensions(dimensions);
    for (const [name, unit, value] of values) this.#emf.addMetric(name, unit, value);
    this.#emf.publishStoredMetrics();
  }
}
