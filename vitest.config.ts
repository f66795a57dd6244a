import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30000,
    hookTimeout: 60000,
    pool: 'forks',
    // Validates every EMF record printed anywhere in the suite.
    setupFiles: ['test/setup/emf-guard.ts'],
    projects: [
      { extends: true, test: { name: 'node', include: ['test/**/*.test.ts'], exclude: ['test/browser/**'], sequence: { groupOrder: 0 } } },
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
