import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

/**
 * `npm test` is quiet: a nested vitest run of test/fixtures/quiet/quiet.fixture.ts with the
 * suite's output settings shows what a failing test printed, and nothing a passing one printed,
 * while the EMF guard still fails a test that prints an invalid record.
 */
const vitest = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url));
const config = fileURLToPath(new URL('../fixtures/quiet/vitest.config.ts', import.meta.url));

it('shows the output of failing tests only, and still validates every EMF record', async () => {
  const env = { ...process.env, TEST_OUTPUT: undefined, FORCE_COLOR: '0', NO_COLOR: '1' };
  const child = spawn(process.execPath, [vitest, 'run', '--config', config], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

  expect(code).toBe(1);
  expect(output).toMatch(/Tests\s+2 failed \| 1 passed/);
  expect(output).toContain('PrintedByAFailingTest');
  expect(output).toContain('console of a failing test');
  expect(output).toMatch(/invalid EMF record\(s\) printed/);
  expect(output).not.toContain('PrintedByAPassingTest');
  expect(output).not.toContain('stderr of a passing test');
  expect(output).not.toContain('console of a passing test');
}, 60_000);
