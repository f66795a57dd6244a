import { relayOutcome, type CheckOutcome, type Provider } from '../check/outcome.ts';
import type { UploadStatus } from './results.ts';

/**
 * An outcome and what it means for the upload; `gone` when the object version no longer exists,
 * `answered` when an earlier check of the version recorded its result (and ended its session
 * with it), which this outcome must never replace; `defer` when the plan's rate limiter held the
 * call back; `sha256` of the bytes checked, when the image reached the check (the upstream call
 * or the pre-screen).
 */
export type Examined = { outcome: CheckOutcome; status: UploadStatus | 'retry' | 'defer'; gone?: true; answered?: true; sha256?: string };

/** A version that no longer exists (deleted, or replaced in a bucket without versioning): no retry can bring it back. */
export const versionGone = (reason: string, provider: Provider): Examined => ({
  status: 'FAILED',
  outcome: relayOutcome('NOT_FOUND', `the uploaded object version no longer exists (${reason})`, provider),
  gone: true,
});
