import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        // Property tests run hundreds of cases: room for a busy machine, since speed is the bench's business.
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 30_000, globalSetup: ['test/helpers/temp-check.ts'] },
      },
      {
        test: {
          name: 'kernel',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          // Real namespaces, bridges and rules on one host: one file at a time.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
          globalSetup: ['test/helpers/leak-check.ts'],
        },
      },
    ],
  },
});
