import { createHash } from 'node:crypto';
import { fork } from 'node:child_process';
import { startDeepvueEmulator, type PlanWindow } from '../test/support/deepvue-emulator.ts';

/** The Deepvue client the bench's relay and its direct baseline both use. */
export const BENCH_CLIENT = { id: 'bench-client', secret: 'bench-secret' } as const;

/** What the upstream counted of the liveness checks it received (only with a plan). */
export interface UpstreamTally {
  checks: number;
  /** Checks refused with 429 because they exceeded the plan. */
  overPlan: number;
  /** Checks Deepvue answered (paid), by the sha256 of their image. */
  paidByImage: Record<string, number>;
}

export interface BenchUpstream {
  baseUrl: string;
  tally(): Promise<UpstreamTally>;
  stop(): void;
}

/** sha256 of an image as it was sent upstream, to count calls per image without keeping images. */
export const imageDigest = (image: string): string => createHash('sha256').update(image).digest('hex');

/**
 * Starts the Deepvue emulator in a process of its own, as the real upstream is: its CPU time and
 * memory are then never counted as the relay's, and on this 2-core machine it runs beside the
 * relay instead of taking turns with it on one event loop. With `plan`, it enforces the plan's
 * windows on liveness checks and tallies them; with `checkLatencyMs`, it answers each check that
 * long after it arrived, as Deepvue does.
 */
export function startUpstream(options: { plan?: PlanWindow[]; checkLatencyMs?: number } = {}): Promise<BenchUpstream> {
  const child = fork(new URL(import.meta.url), [], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, BENCH_UPSTREAM_PLAN: JSON.stringify(options.plan ?? null), BENCH_UPSTREAM_LATENCY_MS: String(options.checkLatencyMs ?? '') },
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the bench upstream exited early (code ${code})`)));
    child.once('message', (message) => {
      resolve({
        baseUrl: (message as { baseUrl: string }).baseUrl,
        tally: () => new Promise((answer) => {
          child.once('message', (tally) => answer(tally as UpstreamTally));
          child.send('tally');
        }),
        stop: () => child.disconnect(),
      });
    });
  });
}

if (import.meta.main) {
  const plan = JSON.parse(process.env.BENCH_UPSTREAM_PLAN ?? 'null') as PlanWindow[] | null;
  const latency = process.env.BENCH_UPSTREAM_LATENCY_MS ?? '';
  const emulator = await startDeepvueEmulator({
    clients: { [BENCH_CLIENT.id]: BENCH_CLIENT.secret },
    ...(plan === null ? {} : { plan }),
    ...(latency === '' ? {} : { checkLatencyMs: Number(latency) }),
  });
  const tally: UpstreamTally = { checks: 0, overPlan: 0, paidByImage: {} };
  // The emulator keeps every request it received for tests to inspect; a bench sends thousands.
  const drain = () => {
    if (plan !== null) {
      for (const call of emulator.calls('/v1/liveness-check')) {
        tally.checks += 1;
        if (call.overPlan) tally.overPlan += 1;
        else {
          const digest = imageDigest(String(call.body.image));
          tally.paidByImage[digest] = (tally.paidByImage[digest] ?? 0) + 1;
        }
      }
    }
    emulator.clearCalls();
  };
  setInterval(drain, 200);
  process.on('message', () => {
    drain();
    process.send?.(tally);
  });
  process.once('disconnect', () => {
    void emulator.close().finally(() => process.exit(0));
  });
  process.send?.({ baseUrl: emulator.baseUrl });
}
