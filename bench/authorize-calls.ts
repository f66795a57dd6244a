import { runInChild, sendResult } from './child.ts';
import { measureTokenSharing, type TokenSharingResult } from './token-sharing.ts';

export interface AuthorizeCalls {
  /** Containers sharing TOKEN_TABLE (dynalite): the relay as deployed. */
  shared: TokenSharingResult;
  /** The baseline: the same containers, each keeping its token in memory only. */
  alone: TokenSharingResult;
}

/** Row 3, in a fresh process: Deepvue authorize calls for `checks` checks over `containers` cold containers. */
export function measureAuthorizeCalls(checks: number, containers: number): Promise<AuthorizeCalls> {
  return runInChild(new URL(import.meta.url), { args: [String(checks), String(containers)] });
}

if (import.meta.main) {
  const [checks, containers] = process.argv.slice(2).map(Number);
  const shared = await measureTokenSharing({ checks, containers });
  const alone = await measureTokenSharing({ checks, containers, sharedTable: false });
  sendResult({ shared, alone } satisfies AuthorizeCalls);
}
