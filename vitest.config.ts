import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { tsconfigPaths: true },
  test: {
    reporters: ['default', ['json', { outputFile: '.vitest-report.json' }]],
    testTimeout: 60_000,
    // Two files at a time, whatever the tier: most of an integration or end-to-end file's time is
    // spent waiting (processes starting, gpg, a database coming back), and every file keeps to
    // its own databases, queues, ports and servers (see Tests in the README).
    maxWorkers: 2,
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
        },
      },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
    ],
  },
});
