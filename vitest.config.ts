// One `npm test` runs every suite under test/ (benchmarks under test/bench/ are never part of it).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**'],
    // Timeouts only catch a hang; no test asserts a time. Many tests start several real processes
    // from source, which on a loaded two-core machine takes seconds each: 30 s once cut short a test
    // that starts four gateway CLI processes (test/gateway-sso/sso-flows.test.ts) while it was
    // passing. The suite must pass on a loaded machine, so the guard is generous.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores: real servers, real processes and real TLS in every suite; keep parallelism modest.
    maxWorkers: 2,
    pool: 'forks',
    // In CI a JSON report is written too, so .ci/run can print one plain closing line.
    reporters: process.env['CI'] ? ['default', ['json', { outputFile: '.tmp/vitest-results.json' }]] : ['default'],
  },
});
