import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { checkImage } from '../../lib/check/check.ts';
import { createCheckDeps } from '../../lib/container/check-deps.ts';
import { readConfig } from '../../lib/container/config.ts';
import { createTokenTableClient } from '../../lib/deepvue/tokens/dynamo-store.ts';
import { GeneratedSigningKeys } from '../../lib/evidence/keys.ts';
import { RelayMetrics } from '../../lib/platform/metrics.ts';
import type { Priority } from '../../lib/rate-limit/window-log.ts';
import { localDynamoConfig } from './dynalite.ts';

/**
 * One container of a checking function in a worker thread of its own: its own memory, event
 * loop and clients (limiter, token cache, Deepvue pool), as a Lambda container has. It runs
 * `concurrency` checks at once (npm start's process serves several; a Lambda container one) until
 * `runMs` has passed, each with the image of a URL, and answers with what they came to.
 */
export interface ContainerRun {
  /** The function's environment (readConfig); `AWS_ENDPOINT_URL_DYNAMODB` names the token table's server. */
  env: Record<string, string>;
  priority: Priority;
  concurrency: number;
  runMs: number;
}

export interface ContainerReport {
  /** Outcomes by sub_code. */
  outcomes: Record<string, number>;
}

const IMAGE = { text: 'https://images.example/face.jpg' };

async function run({ env, priority, concurrency, runMs }: ContainerRun): Promise<ContainerReport> {
  const config = readConfig(env);
  const tokenTableClient = createTokenTableClient(localDynamoConfig(env.AWS_ENDPOINT_URL_DYNAMODB ?? ''));
  // The deployed wiring but the signing key, which these containers generate: signing is not what they measure.
  const deps = await createCheckDeps({ config, metrics: new RelayMetrics({ namespace: 'LivenessRelayTest' }), priority, tokenTableClient, signingKeys: new GeneratedSigningKeys() });
  const outcomes: Record<string, number> = {};
  const endAt = Date.now() + runMs;
  try {
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (Date.now() < endAt) {
        const outcome = await checkImage(IMAGE, deps, Math.min(endAt, Date.now() + config.upstreamDeadlineMs));
        const subCode = outcome.envelope.sub_code;
        outcomes[subCode] = (outcomes[subCode] ?? 0) + 1;
        // A refused caller waits as Retry-After asks, as a client of the relay would (or an upload's queue).
        if (outcome.status === 429) await sleep(Math.min((outcome.retryAfterSeconds ?? 1) * 1000, Math.max(0, endAt - Date.now())));
      }
    }));
  } finally {
    tokenTableClient.destroy();
    await deps.client.close();
  }
  return { outcomes };
}

const ROLE = 'check-container';

if (parentPort !== null && workerData === ROLE) {
  const port = parentPort;
  // Its modules are loaded: runs start at once from here.
  port.postMessage({ ready: true });
  port.on('message', (message: ContainerRun) => {
    run(message).then((report) => port.postMessage({ report }), (error: unknown) => port.postMessage({ error: String(error instanceof Error ? error.stack : error) }));
  });
}

/** A container in a worker thread; its output (EMF records, logs) is kept, for a failing test to show. */
export interface CheckContainer {
  run(options: ContainerRun): Promise<ContainerReport>;
  output(): string;
  close(): Promise<void>;
}

/** Starts a container and resolves once its modules are loaded. */
export async function startCheckContainer(): Promise<CheckContainer> {
  const worker = new Worker(new URL(import.meta.url), { workerData: ROLE, stdout: true, stderr: true });
  let printed = '';
  const keep = (chunk: Buffer) => {
    printed = (printed + chunk.toString('utf8')).slice(-64 * 1024);
  };
  worker.stdout.on('data', keep);
  worker.stderr.on('data', keep);
  // A worker that fails says so to the run waiting on it; between runs the failure is only printed.
  worker.on('error', (error) => keep(Buffer.from(`worker failed: ${error.stack ?? error.message}\n`)));
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    run: (options) =>
      new Promise((resolve, reject) => {
        const settle = (message: { report?: ContainerReport; error?: string }) => {
          worker.off('error', reject);
          if (message.report === undefined) reject(new Error(`the container failed: ${message.error}`));
          else resolve(message.report);
        };
        worker.once('message', settle);
        worker.once('error', reject);
        worker.postMessage(options);
      }),
    output: () => printed,
    close: async () => {
      await worker.terminate();
    },
  };
}
