import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30000,
    hookTimeout: 60000,
    pool: 'forks',
    // Validates every EMF record printed anywhere in the suite.
    setupFiles: ['test/setup/emf-guard.ts'],
  },
});
