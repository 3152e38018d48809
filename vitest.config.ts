import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
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
