// App identity by name alone (issue 14, point 6): a real unprivileged user copies curl to
// ~/bin/claude and asks api.anthropic.com through the real proxy, while curl is denied and Claude
// Code is approved with `require_verified` set for it. A file name is not proof: the copy lives in
// the user's home, which the user can write, so the attribution is unverified and refused, and the
// audit event says so. On the code before this test the copy got through as Claude Code (the
// origin attempt answered 502, not 403), while curl under its own name was refused.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_PATH, E2e, pollUntil, type SystemUnderTest } from './harness.ts';

const run = promisify(execFile);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const e2e = new E2e();
let sut: SystemUnderTest;
const user = `hmdl-id-${randomBytes(3).toString('hex')}`;
let uid = 0;
let gid = 0;
let home = '';

beforeAll(async () => {
  execFileSync('useradd', ['--create-home', '--shell', '/usr/sbin/nologin', '--user-group', user]);
  uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
  home = execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).split(':')[5]!;
  sut = await e2e.system();
}, 60_000);

afterAll(async () => {
  await e2e.cleanup();
  execFileSync('userdel', ['--remove', user], { stdio: 'ignore' });
});

/** A request the way the user's program makes it: through the proxy, as that user, in that user's home. */
async function asUser(program: string): Promise<{ status: number; body: string }> {
  const url = 'https://api.anthropic.com/api/claude_code/settings';
  const r = await run(program, ['-sS', '-k', '-w', '\n%{http_code}', '-x', `http://127.0.0.1:${sut.agent.proxyPort}`, url], {
    uid,
    gid,
    cwd: home,
    env: { PATH: BASE_PATH, HOME: home },
    timeout: 20_000,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const cut = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
}

describe.skipIf(!isRoot)('app identity is not a file name', () => {
  it('a copy of curl at ~/bin/claude is refused as unverified Claude Code while curl is denied', async () => {
    const before = (await sut.agent.statusNow()).sections.policy.version as number;
    expect((await sut.gateway.cli(['apps', 'deny', 'curl'])).code).toBe(0);
    expect((await sut.gateway.cli(['apps', 'approve', 'claude-code'])).code).toBe(0);
    const required = await sut.gateway.cli(['settings', 'set', 'require_verified.claude-code', 'true']);
    await sut.agent.waitForPolicy(before + (required.code === 0 ? 3 : 2), 10_000);

    // curl under its own name is denied.
    const curl = await asUser('curl');
    expect(curl.status).toBe(403);

    // The user's copy of curl named claude, in a folder the user owns.
    await run('mkdir', ['-p', path.join(home, 'bin')], { uid, gid });
    await run('cp', [execFileSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8', env: { PATH: BASE_PATH } }).trim(), path.join(home, 'bin/claude')], { uid, gid });
    expect(fs.statSync(path.join(home, 'bin/claude')).uid).toBe(uid);
    const fake = await asUser(path.join(home, 'bin/claude'));
    // Refused in the form the block table gives Claude Code (451: it shows a 401/403 as a sign-in failure).
    expect(fake.status, fake.body).toBe(451);
    expect(fake.body).toContain('could not be verified');

    const { value: event } = await pollUntil(
      'the agent audit event of the refused copy',
      async () => (await sut.gateway.deviceEvents(sut.deviceId, 200)).find((e) => e.source === 'agent' && e.app === 'claude-code' && e.os_user === user),
      { deadlineMs: 10_000, intervalMs: 200 },
    );
    expect(event.attrs).toMatchObject({ decision: 'block', identity: 'unverified' });
    expect(required.code, required.stderr).toBe(0);
  }, 60_000);
});
