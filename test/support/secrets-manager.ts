import { newPrivateJwk } from '../../lib/evidence/jwk.ts';
import { startAwsJsonServer } from './aws-json.ts';

/**
 * A loopback Secrets Manager answering `GetSecretValue` (with `VersionStage`: AWSCURRENT,
 * AWSPREVIOUS, AWSPENDING), so the real SDK client (pointed here by
 * AWS_ENDPOINT_URL_SECRETS_MANAGER or an explicit endpoint) is exercised end to end.
 */
export interface SecretsManagerEndpoint {
  url: string;
  /** GetSecretValue requests received, failed ones included. */
  readonly getSecretValueCalls: number;
  /** The same, for one secret. */
  callsFor(secretId: string): number;
  /** A new current version, as `put-secret-value` makes it: the current one becomes AWSPREVIOUS. */
  setSecret(secretId: string, value: string): void;
  /** A version staged AWSPENDING, as `put-secret-value --version-stages AWSPENDING` makes it. */
  stageSecret(secretId: string, value: string): void;
  /** AWSPENDING becomes AWSCURRENT, and the current one AWSPREVIOUS (`update-secret-version-stage`). */
  promotePending(secretId: string): void;
  /** The next `times` requests (for `secretId` only, when given) fail with a 500 InternalServiceError, or never get an answer. */
  failNext(times: number, how?: 'error' | 'hang', secretId?: string): void;
  close(): Promise<void>;
}

type Stage = 'AWSCURRENT' | 'AWSPREVIOUS' | 'AWSPENDING';

/** The signing key's secret id in tests, and a fresh value for it: an Ed25519 private JWK as the stack's secret holds one. */
export const SIGNING_KEY_SECRET_ID = 'liveness-relay/signing-key';
export const signingKeySecret = (): string => JSON.stringify(newPrivateJwk());

export async function startSecretsManager(secrets: Record<string, string>): Promise<SecretsManagerEndpoint> {
  const versions = new Map<string, Partial<Record<Stage, { id: string; value: string }>>>();
  let calls = 0;
  const callsOf = new Map<string, number>();
  let created = 0;
  let failures: { times: number; how: 'error' | 'hang'; secretId: string | undefined } = { times: 0, how: 'error', secretId: undefined };
  const stages = (secretId: string) => {
    const found = versions.get(secretId) ?? {};
    versions.set(secretId, found);
    return found;
  };
  const version = (value: string) => ({ id: `v${(created += 1)}`, value });
  const setSecret = (secretId: string, value: string) => {
    const stage = stages(secretId);
    if (stage.AWSCURRENT !== undefined) stage.AWSPREVIOUS = stage.AWSCURRENT;
    stage.AWSCURRENT = version(value);
  };
  for (const [secretId, value] of Object.entries(secrets)) setSecret(secretId, value);

  const server = await startAwsJsonServer({
    'secretsmanager.GetSecretValue': ({ SecretId: secretId, VersionStage: versionStage = 'AWSCURRENT' }) => {
      calls += 1;
      callsOf.set(String(secretId), (callsOf.get(String(secretId)) ?? 0) + 1);
      if (failures.times > 0 && (failures.secretId === undefined || failures.secretId === secretId)) {
        failures = { ...failures, times: failures.times - 1 };
        if (failures.how === 'hang') return undefined;
        return { status: 500, body: { message: 'injected failure' }, errorType: 'InternalServiceError' };
      }
      const found = typeof secretId === 'string' ? versions.get(secretId)?.[versionStage as Stage] : undefined;
      if (typeof secretId !== 'string' || found === undefined) {
        const message = versions.has(String(secretId))
          ? `Secrets Manager can't find the specified secret value for staging label: ${String(versionStage)}`
          : "Secrets Manager can't find the specified secret.";
        return { status: 400, body: { message }, errorType: 'ResourceNotFoundException' };
      }
      return {
        body: {
          ARN: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${secretId}-AbCdEf`,
          Name: secretId,
          SecretString: found.value,
          VersionId: found.id,
          VersionStages: [versionStage],
          CreatedDate: Date.now() / 1000,
        },
      };
    },
  });

  return {
    url: server.url,
    get getSecretValueCalls() {
      return calls;
    },
    callsFor: (secretId) => callsOf.get(secretId) ?? 0,
    setSecret,
    stageSecret: (secretId, value) => {
      stages(secretId).AWSPENDING = version(value);
    },
    promotePending: (secretId) => {
      const stage = stages(secretId);
      if (stage.AWSPENDING === undefined) throw new Error(`${secretId} has no AWSPENDING version`);
      stage.AWSPREVIOUS = stage.AWSCURRENT;
      stage.AWSCURRENT = stage.AWSPENDING;
      delete stage.AWSPENDING;
    },
    failNext: (times, how = 'error', secretId = undefined) => {
      failures = { times, how, secretId };
    },
    close: () => server.close(),
  };
}
