import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { checkImage, type CheckDeps } from '../lib/check/check.ts';
import { readConfig } from '../lib/container/config.ts';
import { RelayMetrics } from '../lib/platform/metrics.ts';
import { createCheckDeps } from '../lib/container/check-deps.ts';
import { GeneratedSigningKeys } from '../lib/evidence/keys.ts';
import { createTokenTableClient } from '../lib/deepvue/tokens/dynamo-store.ts';
import { startDeepvueEmulator } from '../test/support/deepvue-emulator.ts';
import { createTable, localDynamoConfig, startDynalite } from '../test/support/dynalite.ts';

export interface TokenSharingOptions {
  /** Checks in all, spread round-robin over the containers. */
  checks?: number;
  /** Simulated Lambda containers: each has its own check dependencies and its own DynamoDB client. */
  containers?: number;
  /** Checks in flight at once. */
  concurrency?: number;
  /** Deepvue revokes every token once, as a key rotation would, when this many checks have finished (rounded up to a wave). */
  revokeAfter?: number;
  /** False measures the baseline: no `TOKEN_TABLE`, each container keeps its token in memory only. */
  sharedTable?: boolean;
}

export interface TokenSharingResult {
  checks: number;
  containers: number;
  /** Calls that reached Deepvue's `/v1/authorize`: the number this measurement is about. */
  authorizeCalls: number;
  /** Checks that did not end with HTTP 200. */
  failedChecks: number;
  elapsedMs: number;
}

const TABLE = 'bench-tokens';

/**
 * Runs `checks` liveness checks through `checkImage` over `containers` simulated containers that
 * share one token table (dynalite on 127.0.0.1) in front of the Deepvue emulator, and counts
 * the authorize calls Deepvue saw. The target is one per token lifetime, plus one per revocation.
 *
 * @example
 * const { authorizeCalls } = await measureTokenSharing({ checks: 1000, containers: 20 });
 */
export async function measureTokenSharing(options: TokenSharingOptions = {}): Promise<TokenSharingResult> {
  const { checks = 1000, containers = 20, concurrency = 100, revokeAfter, sharedTable = true } = options;
  const dynalite = await startDynalite();
  const upstream = await startDeepvueEmulator({ clients: { 'bench-client': 'bench-secret' } });
  const tableClients: DynamoDBClient[] = [];
  const fleet: CheckDeps[] = [];
  try {
    await createTable(dynalite.endpoint, TABLE);
    const config = readConfig({
      DEEPVUE_BASE_URL: upstream.baseUrl,
      DEEPVUE_CLIENT_ID: 'bench-client',
      DEEPVUE_CLIENT_SECRET: 'bench-secret',
      TOKEN_TABLE: sharedTable ? TABLE : undefined,
      AWS_LAMBDA_FUNCTION_NAME: 'bench',
    });
    const metrics = new RelayMetrics({ namespace: 'LivenessRelayBench' });
    for (let index = 0; index < containers; index += 1) {
      const tokenTableClient = createTokenTableClient(localDynamoConfig(dynalite.endpoint));
      tableClients.push(tokenTableClient);
      fleet.push(await createCheckDeps({ config, metrics, tokenTableClient, signingKeys: new GeneratedSigningKeys() }));
    }

    const started = Date.now();
    let failedChecks = 0;
    let revoked = false;
    for (let first = 0; first < checks; first += concurrency) {
      if (revokeAfter !== undefined && !revoked && first >= revokeAfter) {
        upstream.revokeTokens();
        revoked = true;
      }
      const wave = Array.from({ length: Math.min(concurrency, checks - first) }, async (_, offset) => {
        const deps = fleet[(first + offset) % containers];
        if (deps === undefined) throw new Error('no container for this check');
        const outcome = await checkImage({ text: 'https://images.example/face.jpg' }, deps, Date.now() + 20_000);
        if (outcome.status !== 200) failedChecks += 1;
      });
      await Promise.all(wave);
    }
    return { checks, containers, authorizeCalls: upstream.calls('/v1/authorize').length, failedChecks, elapsedMs: Date.now() - started };
  } finally {
    await Promise.all(fleet.map((deps) => deps.client.close()));
    for (const client of tableClients) client.destroy();
    await upstream.close();
    await dynalite.close();
  }
}

if (import.meta.main) {
  const result = await measureTokenSharing();
  console.log(JSON.stringify(result));
}
