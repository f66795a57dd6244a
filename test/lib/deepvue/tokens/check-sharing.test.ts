import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { checkImage, type CheckDeps } from '../../../../lib/check/check.ts';
import { readConfig } from '../../../../lib/container/config.ts';
import { RelayMetrics } from '../../../../lib/platform/metrics.ts';
import { createCheckDeps } from '../../../../lib/container/check-deps.ts';
import { GeneratedSigningKeys } from '../../../../lib/evidence/keys.ts';
import { startDeepvueEmulator, type DeepvueEmulator } from '../../../support/deepvue-emulator.ts';
import { useDynalite } from '../../../support/dynalite.ts';

const IMAGE = { text: 'https://images.example/face.jpg' };

const dynalite = useDynalite('relay-tokens');
let upstream: DeepvueEmulator;
let fleet: CheckDeps[];

beforeAll(async () => {
  upstream = await startDeepvueEmulator({ clients: { 'client-a': 'secret-a' } });
  // The deployed wiring: createCheckDeps builds its own DynamoDB client from the SDK's environment.
  vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', dynalite.endpoint);
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
  const config = readConfig({
    DEEPVUE_BASE_URL: upstream.baseUrl,
    DEEPVUE_CLIENT_ID: 'client-a',
    DEEPVUE_CLIENT_SECRET: 'secret-a',
    TOKEN_TABLE: 'relay-tokens',
    AWS_LAMBDA_FUNCTION_NAME: 'livenessCheck',
  });
  const metrics = new RelayMetrics({ namespace: 'LivenessRelayTest' });
  fleet = await Promise.all(Array.from({ length: 4 }, () => createCheckDeps({ config, metrics, signingKeys: new GeneratedSigningKeys() })));
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await Promise.all(fleet.map((deps) => deps.client.close()));
  await upstream.close();
});

/** `count` concurrent checks, spread round-robin over the containers. */
function checks(count: number) {
  const deadlineAt = Date.now() + 10_000;
  return Promise.all(Array.from({ length: count }, (_, index) => checkImage(IMAGE, fleet[index % fleet.length] as CheckDeps, deadlineAt)));
}

it('shares one token between containers through TOKEN_TABLE, and renews it once after a revocation', async () => {
  const first = await checks(20);

  expect(first.map((outcome) => outcome.status)).toEqual(Array(20).fill(200));
  expect(upstream.calls('/v1/authorize')).toHaveLength(1);
  expect(new Set(upstream.calls('/v1/liveness-check').map((call) => call.headers.authorization)).size).toBe(1);

  upstream.revokeTokens();
  upstream.clearCalls();
  const afterRevocation = await checks(20);

  expect(afterRevocation.map((outcome) => outcome.status)).toEqual(Array(20).fill(200));
  expect(afterRevocation.every((outcome) => outcome.envelope.sub_code === 'SUCCESS')).toBe(true);
  expect(upstream.calls('/v1/authorize')).toHaveLength(1);
});
