import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30000,
    hookTimeout: 60000,
    pool: 'forks',
    // Quiet: what the code prints during a test, and the test's console output, only when it fails.
    silent: 'passed-only',
    // The EMF guard after the quiet output, so that it still validates every EMF record printed.
    setupFiles: ['test/setup/quiet-output.ts', 'test/setup/emf-guard.ts'],
    projects: [
      // Deepvue's request samples skip, saying so, where an interpreter is missing (test/support/deepvue-samples.ts).
      {
        extends: true,
        test: { name: 'node', include: ['test/**/*.test.ts'], exclude: ['test/browser/**'], globalSetup: ['test/setup/samples-notice.ts'], sequence: { groupOrder: 0 } },
      },
      // Real Chromium against npm start (test/support/browser.ts): skipped, saying so, without a
      // browser; `npm run test:browser` requires one. One file at a time, each starting a stack,
      // and after the node project: a browser beside the timing-sensitive tests slows them both.
      {
        extends: true,
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          globalSetup: ['test/setup/browser-notice.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
