// One `npm test` runs every suite under test/ (benchmarks under test/bench/ are never part of it).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: real servers, real processes and real TLS in every suite; keep parallelism modest.
    maxWorkers: 2,
    pool: 'forks',
    // In CI a JSON report is written too, so .ci/run can print one plain closing line.
    reporters: process.env['CI'] ? ['default', ['json', { outputFile: '.tmp/vitest-results.json' }]] : ['default'],
  },
});
