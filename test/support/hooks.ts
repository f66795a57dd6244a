import { afterAll, beforeAll } from 'vitest';

/**
 * What the tests of a file or a `describe` share, started by `beforeAll` and closed by
 * `afterAll`: the returned stand-in reads every member from the started value when it is used, in
 * hooks and tests, so a file declares it in one line instead of a variable and two hooks. Hooks
 * the file registers after it run after its start and before its close.
 *
 * @example
 * const dynalite = useStarted(startDynalite);
 * beforeAll(() => createTable(dynalite.endpoint, 'tokens'));
 */
export function useStarted<T extends { close(): unknown }>(start: () => Promise<T>): T {
  let started: T | undefined;
  beforeAll(async () => {
    started = await start();
  });
  afterAll(async () => {
    await started?.close();
  });
  return new Proxy({} as T, {
    get: (_, member) => {
      if (started === undefined) throw new Error('useStarted: read before its beforeAll started it, or after a failed start');
      const value: unknown = Reflect.get(started, member);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(started) : value;
    },
  });
}
