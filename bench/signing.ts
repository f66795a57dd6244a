import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { checkImage, type CheckDeps } from '../lib/check/check.ts';
import { createCheckDeps } from '../lib/container/check-deps.ts';
import { readConfig } from '../lib/container/config.ts';
import { SecretsManagerSigningKeys, type SigningKeys } from '../lib/evidence/keys.ts';
import { RelayMetrics } from '../lib/platform/metrics.ts';
import { fixtureImage } from '../test/support/relay.ts';
import { signingKeySecret, SIGNING_KEY_SECRET_ID, startSecretsManager } from '../test/support/secrets-manager.ts';
import { runInChild, sendResult } from './child.ts';
import { percentile } from './stats.ts';
import { BENCH_CLIENT } from './upstream.ts';

export interface SigningOptions {
  upstreamUrl: string;
  /** Checks of each side before anything is timed: JIT, sockets, the token, the key. */
  warmup: number;
  /** Timed checks of each side, alternating which goes first. */
  samples: number;
}

export interface SigningResult {
  photoBytes: number;
  samples: number;
  /** One check, signing on (the relay as deployed: the key from Secrets Manager, cached) and off. */
  on: { p50: number; p99: number };
  off: { p50: number; p99: number };
  /** The signature alone (claims, JSON, base64url, Ed25519), and the photo's SHA-256 (done with the image, both sides), medians in ms. */
  signOnlyMs: number;
  imageHashMs: number;
}

/**
 * Row 10: what signing a verdict adds to a check. The same warm container's dependencies (one
 * Deepvue client, one token, the signing key loaded once from a loopback Secrets Manager) check
 * the same photo through `checkImage` against the bench upstream, with signing on and with a key
 * source whose signer does nothing (off, which no deployment can be), alternating, in a fresh
 * process of its own.
 */
export function measureSigning(options: SigningOptions): Promise<SigningResult> {
  return runInChild(new URL(import.meta.url), { args: [JSON.stringify(options)] });
}

/** Signing off: a signer that signs nothing, for the baseline only. */
const UNSIGNED: SigningKeys = {
  signer: async () => ({ kid: 'off', sign: () => '' }),
  publicKeys: async () => [],
};

const sorted = (values: number[]) => values.toSorted((a, b) => a - b);
const stats = (values: number[]) => ({ p50: percentile(sorted(values), 0.5), p99: percentile(sorted(values), 0.99) });

async function run(options: SigningOptions): Promise<SigningResult> {
  const secrets = await startSecretsManager({ [SIGNING_KEY_SECRET_ID]: signingKeySecret() });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
  });
  try {
    const config = readConfig({
      DEEPVUE_BASE_URL: options.upstreamUrl,
      DEEPVUE_CLIENT_ID: BENCH_CLIENT.id,
      DEEPVUE_CLIENT_SECRET: BENCH_CLIENT.secret,
      AWS_LAMBDA_FUNCTION_NAME: 'bench',
    });
    const metrics = new RelayMetrics({ namespace: 'LivenessRelayBench' });
    const signingKeys = new SecretsManagerSigningKeys({ secretId: SIGNING_KEY_SECRET_ID, maxAgeSeconds: 3600, metrics });
    const on = await createCheckDeps({ config, metrics, signingKeys });
    const off: CheckDeps = { ...on, signingKeys: UNSIGNED };
    const photo = fixtureImage('face-480p.jpg');
    const input = { text: photo.toString('base64') };
    const check = async (deps: CheckDeps) => {
      const outcome = await checkImage(input, deps, Date.now() + 20_000);
      if (outcome.status !== 200) throw new Error(`the check answered ${outcome.status}; the bench measures successful checks only`);
      if (Boolean(outcome.signature) !== (deps === on)) throw new Error('a signed check came back unsigned, or the other way round');
    };
    for (let index = 0; index < options.warmup; index += 1) {
      await check(on);
      await check(off);
    }
    const timed = { on: [] as number[], off: [] as number[] };
    for (let index = 0; index < options.samples; index += 1) {
      for (const side of index % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
        const started = performance.now();
        await check(side === 'on' ? on : off);
        timed[side].push(performance.now() - started);
      }
    }

    const signer = await signingKeys.signer();
    const claims = {
      transaction_id: 'ae358a30-66d1-4371-af90-c59ac20aa388',
      sub_code: 'SUCCESS',
      is_live: true,
      score: null,
      image_sha256: createHash('sha256').update(photo).digest('hex'),
      source: 'api' as const,
      subject: null,
      replay: null,
      iat: Math.floor(Date.now() / 1000),
    };
    const signOnly: number[] = [];
    const imageHash: number[] = [];
    for (let index = 0; index < options.samples; index += 1) {
      let started = performance.now();
      signer.sign(claims);
      signOnly.push(performance.now() - started);
      started = performance.now();
      createHash('sha256').update(photo).digest('hex');
      imageHash.push(performance.now() - started);
    }
    await on.client.close();
    return {
      photoBytes: photo.byteLength,
      samples: options.samples,
      on: stats(timed.on),
      off: stats(timed.off),
      signOnlyMs: stats(signOnly).p50,
      imageHashMs: stats(imageHash).p50,
    };
  } finally {
    await secrets.close();
  }
}

if (import.meta.main) {
  const options = JSON.parse(process.argv[2] ?? '{}') as SigningOptions;
  sendResult(await run(options));
}
