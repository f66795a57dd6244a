import { afterEach, beforeEach } from 'vitest';

/**
 * A quiet `npm test`: what the code under test prints while a test runs (Powertools' JSON logs,
 * EMF records, warnings) is held, and shown under the test's name only when the test fails.
 * Output outside tests (a suite saying that it skips) passes through. Listed before the EMF guard
 * in vitest.config.ts, so that the guard, which wraps the streams after this, still validates
 * every record. `TEST_OUTPUT=show` prints everything as it comes.
 */
type Write = NodeJS.WriteStream['write'];

if (process.env.TEST_OUTPUT !== 'show') {
  const held: Array<{ stream: NodeJS.WriteStream; chunk: string | Uint8Array }> = [];
  const originals = new Map<NodeJS.WriteStream, Write>();
  let holding = false;

  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream) as Write;
    originals.set(stream, original);
    stream.write = function (chunk: string | Uint8Array, ...rest: unknown[]) {
      if (!holding) return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
      held.push({ stream, chunk });
      const callback = rest.find((argument) => typeof argument === 'function');
      if (typeof callback === 'function') queueMicrotask(() => (callback as () => void)());
      return true;
    } as Write;
  }

  beforeEach(() => {
    held.length = 0;
    holding = true;
  });

  afterEach((context) => {
    holding = false;
    const failed = context.task.result?.state === 'fail';
    if (failed && held.length > 0) {
      process.stderr.write(`\n--- output of the failed test "${context.task.fullName ?? context.task.name}" ---\n`);
      for (const { stream, chunk } of held) originals.get(stream)?.(chunk);
      process.stderr.write('--- end of its output ---\n');
    }
    held.length = 0;
  });
}
