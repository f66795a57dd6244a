import { fork } from 'node:child_process';
import { startDeepvueEmulator } from '../test/support/deepvue-emulator.ts';

/** The Deepvue client the bench's relay and its direct baseline both use. */
export const BENCH_CLIENT = { id: 'bench-client', secret: 'bench-secret' } as const;

export interface BenchUpstream {
  baseUrl: string;
  stop(): void;
}

/**
 * Starts the Deepvue emulator in a process of its own, as the real upstream is: its CPU time and
 * memory are then never counted as the relay's, and on this 2-core machine it runs beside the
 * relay instead of taking turns with it on one event loop.
 */
export function startUpstream(): Promise<BenchUpstream> {
  const child = fork(new URL(import.meta.url), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the bench upstream exited early (code ${code})`)));
    child.once('message', (message) => {
      resolve({ baseUrl: (message as { baseUrl: string }).baseUrl, stop: () => child.disconnect() });
    });
  });
}

if (import.meta.main) {
  const emulator = await startDeepvueEmulator({ clients: { [BENCH_CLIENT.id]: BENCH_CLIENT.secret } });
  // The emulator keeps every request it received for tests to inspect; a bench sends thousands.
  setInterval(() => emulator.clearCalls(), 200);
  process.once('disconnect', () => {
    void emulator.close().finally(() => process.exit(0));
  });
  process.send?.({ baseUrl: emulator.baseUrl });
}
