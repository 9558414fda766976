// Per-request CPU of the user access token check (issue 18 point 3, issue 22): a cold jose EdDSA
// verification against the cached path later requests of the same token take. Standalone:
//   node test/bench/sso-tokens.ts
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { systemClock } from '../../lib/index.ts';
import { AccessTokens } from '../../gateway/src/sso/index.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-bench-sso-'));
const tokens = await AccessTokens.open(dir, systemClock, () => 'https://gw.example.com');
const N = 5000;
const issued: string[] = [];
for (let i = 0; i < N; i += 1) issued.push((await tokens.issue({ userId: `usr_${i}`, email: `u${i}@example.com`, deviceId: `dev-${i}`, osUser: 'alice', familyId: `sid_${i}` })).token);

function micros(times: number[]): string {
  const s = [...times].sort((a, b) => a - b);
  const p = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(1);
  return `p50 ${p(0.5)} µs, p99 ${p(0.99)} µs`;
}

const cold: number[] = [];
for (const t of issued) {
  const start = process.hrtime.bigint();
  if (!(await tokens.verify(t))) throw new Error('verify failed');
  cold.push(Number(process.hrtime.bigint() - start) / 1000);
}
const hot: number[] = [];
for (let round = 0; round < 4; round += 1) {
  for (const t of issued) {
    const start = process.hrtime.bigint();
    if (!(await tokens.verify(t))) throw new Error('verify failed');
    hot.push(Number(process.hrtime.bigint() - start) / 1000);
  }
}
console.log(`user token, first verification (jose EdDSA): ${micros(cold)} over ${N} tokens`);
console.log(`user token, cached until exp:                ${micros(hot)} over ${hot.length} checks`);
rmSync(dir, { recursive: true, force: true });
