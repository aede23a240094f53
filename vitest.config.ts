import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { tsconfigPaths: true },
  test: {
    reporters: ['default', ['json', { outputFile: '.vitest-report.json' }]],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['libs/**/*.unit.test.ts', 'apps/**/*.unit.test.ts', 'test/**/*.unit.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'int',
          include: ['libs/**/*.int.test.ts', 'apps/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          // Integration files share the machine's Postgres and Redis and start child processes;
          // run them one file at a time so timings and ports stay predictable on 2 cores.
          fileParallelism: false,
        },
      },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], fileParallelism: false } },
    ],
  },
});
