// Per-request CPU of SSO on inference (issue 18 point 3, issue 22), standalone:
//   node test/bench/sso-tokens.ts
// 1. the user access token alone: a cold jose EdDSA verification against the cached path later
//    requests of the same token take;
// 2. the whole per-request check the inference routes run for a signed-in person (token, device
//    match, sign-in alive, user, key resolution and the key's own check) against the virtual-key
//    check a request with a key gets, on a real gateway store (SQLite).
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger, systemClock } from '../../lib/index.ts';
import { deviceProofText } from '../../protocol/index.ts';
import { startGateway } from '../../gateway/src/server.ts';
import { EMPTY_CONFIG } from '../../gateway/src/config.ts';
import { AccessTokens, loadSsoConfig } from '../../gateway/src/sso/index.ts';

function micros(times: number[]): string {
  const s = [...times].sort((a, b) => a - b);
  const p = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(1);
  return `p50 ${p(0.5)} µs, p99 ${p(0.99)} µs`;
}

async function time(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i += 1) {
    const start = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  return out;
}

// ---- 1. the token alone ----
const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-bench-sso-'));
const tokens = await AccessTokens.open(dir, systemClock, () => 'https://gw.example.com');
const N = 5000;
const issued: string[] = [];
for (let i = 0; i < N; i += 1) issued.push((await tokens.issue({ userId: `usr_${i}`, email: `u${i}@example.com`, deviceId: `dev-${i}`, osUser: 'alice', familyId: `sid_${i}` })).token);
let next = 0;
const cold = await time(N, () => tokens.verify(issued[next++]!));
next = 0;
const hot = await time(4 * N, () => tokens.verify(issued[next++ % N]!));
console.log(`user token, first verification (jose EdDSA): ${micros(cold)} over ${N} tokens`);
console.log(`user token, cached until exp:                ${micros(hot)} over ${hot.length} checks`);

// ---- 2. the whole check on a gateway store ----
const gwDir = path.join(dir, 'gw');
const first = await startGateway({ dataDir: gwDir, host: '127.0.0.1', port: 0, logger: silentLogger() });
const { key } = await first.control.createVirtualKey({ email: 'team@example.com' });
await first.close();
const sso = loadSsoConfig({ providers: [{ id: 'corp', issuer: 'https://idp.example.com', client_id: 'c', client_secret: 'env.S' }], default_virtual_key: 'env.VK' }, { S: 's', VK: key });
const gw = await startGateway({ dataDir: gwDir, host: '127.0.0.1', port: 0, logger: silentLogger(), config: { ...EMPTY_CONFIG, sso } });
const user = await gw.store.upsertSsoUser({ issuer: 'https://idp.example.com', subject: 'alice', email: 'alice@example.com', name: 'Alice', groups: [], newUserId: 'usr_bench', at: new Date().toISOString() });
const keyId = (await gw.control.verifyVirtualKey(key))!.keyId;
const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const { challenge } = await gw.control.issueChallenge();
await gw.control.enrollDevice(
  {
    device: { device_id: 'dev-bench', hostname: 'bench', os: 'linux' },
    os_user: 'alice',
    device_key: { public_key: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'), challenge, signature: sign(null, deviceProofText('enroll', challenge, 'dev-bench'), privateKey).toString('base64') },
  },
  { userId: user.id, email: user.email, keyId },
);
await gw.store.createFamily({ id: 'sid_bench', userId: user.id, deviceId: 'dev-bench', osUser: 'alice', at: new Date().toISOString(), absoluteExpiresAt: new Date(Date.now() + 86_400_000).toISOString(), tokenHash: 'x' });
const gwTokens = await AccessTokens.open(gwDir, systemClock, () => gw.url);
const access = (await gwTokens.issue({ userId: user.id, email: user.email, deviceId: 'dev-bench', osUser: 'alice', familyId: 'sid_bench' })).token;
const person = await gw.sso!.personForRequest(access, 'dev-bench');
if (!person.ok) throw new Error(`bench setup: ${person.message}`);
const viaKey = await time(20_000, () => gw.control.verifyVirtualKey(key));
const viaToken = await time(20_000, () => gw.sso!.personForRequest(access, 'dev-bench'));
console.log(`per request, virtual key check:              ${micros(viaKey)}`);
console.log(`per request, signed-in person (SSO) check:   ${micros(viaToken)}`);
await gw.close();
rmSync(dir, { recursive: true, force: true });
