// App identity that a user cannot forge (issue 14, point 6). Real files with real owners and modes,
// real processes found by the real Linux resolver, and a real second OS user made with useradd:
// the real Claude Code CLI from npm installed where only root can write is verified; the same
// package under the user's home, a copy of curl named claude, and a process that sees another file
// system (a user namespace of its own with a bind mount) are not.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppResolver, checkRootOnlyPath, LinuxProcessResolver, onlyRootCanWrite, RootPathChecker, type ProcessIdentity } from '../../agent/src/identify/index.ts';
import { ManualClock } from '../../lib/index.ts';

const isLinux = process.platform === 'linux';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const REPO = path.resolve(import.meta.dirname, '../..');
const CLAUDE_PACKAGE = path.join(REPO, 'node_modules/@anthropic-ai/claude-code');
const CURL = realpathSync(execFileSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).trim());

const apps = new AppResolver({ platform: 'linux' });
const resolver = new LinuxProcessResolver();
const cleanups: (() => void)[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});
afterAll(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A folder that only root can write, under /usr/local/lib (root's, 0755): a stand-in for /usr/lib/node_modules. */
function rootOnlyDir(): string {
  const dir = mkdtempSync('/usr/local/lib/heimdall-verify-');
  chmodSync(dir, 0o755);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The npm package as `npm install` lays it out under `prefix`, hard-linked (the real files, 364 MB, not copied). */
function installClaudeCode(prefix: string): string {
  const target = path.join(prefix, 'node_modules/@anthropic-ai/claude-code');
  mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 }); // no-op where the caller made them
  execFileSync('cp', ['-al', CLAUDE_PACKAGE, target]);
  return path.join(target, 'bin/claude.exe');
}

async function listen(): Promise<{ port: number; next: () => Promise<net.Socket>; close: () => void }> {
  const server = net.createServer();
  const queued: net.Socket[] = [];
  const waiting: ((s: net.Socket) => void)[] = [];
  server.on('connection', (s) => {
    s.on('error', () => undefined);
    const w = waiting.shift();
    if (w) w(s);
    else queued.push(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    next: () => (queued.length > 0 ? Promise.resolve(queued.shift()!) : new Promise((resolve) => waiting.push(resolve))),
    close: () => server.close(),
  };
}

/** Starts a program and resolves the process behind its first connection to our listener. */
async function connectAndIdentify(command: string, args: string[], options: Parameters<typeof spawn>[2] = {}): Promise<ProcessIdentity | undefined> {
  const listener = await listen();
  try {
    const child = spawn(command, args.map((a) => a.replace('PORT', String(listener.port))), {
      stdio: 'ignore',
      ...options,
      env: { PATH: '/usr/bin:/bin', ...options.env, ...Object.fromEntries(Object.entries(options.env ?? {}).map(([k, v]) => [k, String(v).replace('PORT', String(listener.port))])) },
    });
    children.push(child);
    const socket = await listener.next();
    const identity = await resolver.lookupByLocalPeer({ clientPort: socket.remotePort!, clientAddress: socket.remoteAddress!, proxyPort: listener.port, family: 'IPv4' });
    socket.destroy();
    return identity;
  } finally {
    listener.close();
  }
}

describe('who may write a file', () => {
  it('only root: owner uid 0, no write bit for others, group write only for gid 0', () => {
    expect(onlyRootCanWrite({ uid: 0, gid: 0, mode: 0o40755 })).toBe(true);
    expect(onlyRootCanWrite({ uid: 0, gid: 0, mode: 0o40775 })).toBe(true);
    expect(onlyRootCanWrite({ uid: 0, gid: 50, mode: 0o40775 })).toBe(false); // a staff-writable /usr/local
    expect(onlyRootCanWrite({ uid: 0, gid: 0, mode: 0o41777 })).toBe(false); // /tmp
    expect(onlyRootCanWrite({ uid: 1000, gid: 1000, mode: 0o40755 })).toBe(false);
  });
});

describe.runIf(isLinux && isRoot)('the root-only path walk, on real files', () => {
  it('accepts a root-only chain and follows a symlink that root placed', async () => {
    const dir = rootOnlyDir();
    const tool = path.join(dir, 'tool');
    writeFileSync(tool, '#!/bin/sh\n', { mode: 0o755 });
    symlinkSync('tool', path.join(dir, 'alias'));
    expect(await checkRootOnlyPath(path.join(dir, 'alias'))).toEqual({ ok: true, real: tool });
  });

  it('sees a changed executable at once, and keeps its root-only folders\' verdict for the check period', async () => {
    const clock = new ManualClock();
    const checker = new RootPathChecker({ ttlMs: 60_000, clock });
    const dir = rootOnlyDir();
    const tool = path.join(dir, 'tool');
    writeFileSync(tool, '', { mode: 0o755 });
    expect((await checker.check(tool)).ok).toBe(true);
    chownSync(tool, 4242, 4242); // the file itself is lstat'ed on every check
    expect(await checker.check(tool)).toMatchObject({ ok: false, why: `${tool} can be changed by someone other than root` });
    chownSync(tool, 0, 0);
    // A new executable in a folder already found root-only costs one lstat: the folder is not
    // walked again until the period ends. Only root can make the folder another user's, and root's
    // change waits at most that long.
    chownSync(dir, 4242, 4242);
    const other = path.join(dir, 'other');
    writeFileSync(other, '', { mode: 0o755 });
    expect((await checker.check(other)).ok).toBe(true);
    clock.advance(60_000);
    expect(await checker.check(other)).toMatchObject({ ok: false, why: `${dir} can be changed by someone other than root` });
    chownSync(dir, 0, 0);
  });

  it('refuses a relative path, a group-writable folder of another group, a user-owned file and anything under /tmp', async () => {
    const dir = rootOnlyDir();
    const tool = path.join(dir, 'tool');
    writeFileSync(tool, '', { mode: 0o755 });
    expect(await checkRootOnlyPath('bin/claude')).toMatchObject({ ok: false, why: expect.stringContaining('not an absolute path') });
    chownSync(tool, 4242, 4242);
    expect(await checkRootOnlyPath(tool)).toMatchObject({ ok: false, why: `${tool} can be changed by someone other than root` });
    chownSync(tool, 0, 0);
    chownSync(dir, 0, 4242);
    chmodSync(dir, 0o775);
    expect(await checkRootOnlyPath(tool)).toMatchObject({ ok: false, why: `${dir} can be changed by someone other than root` });
    const inTmp = mkdtempSync('/tmp/heimdall-verify-');
    cleanups.push(() => rmSync(inTmp, { recursive: true, force: true }));
    expect(await checkRootOnlyPath(path.join(inTmp, 'x'))).toMatchObject({ ok: false, why: '/tmp can be changed by someone other than root' });
  });
});

describe.runIf(isLinux && isRoot)('app identity with a real second OS user', () => {
  const name = `hd-v${randomBytes(3).toString('hex')}`;
  let uid = 0;
  let gid = 0;
  let home = '';

  beforeAll(() => {
    execFileSync('useradd', ['--create-home', '--shell', '/usr/sbin/nologin', '--user-group', name]);
    uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
    home = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).split(':')[5]!;
    cleanups.push(() => execFileSync('userdel', ['--remove', '--force', name], { stdio: 'ignore' }));
  });

  const asUser = (extra: NodeJS.ProcessEnv = {}): Parameters<typeof spawn>[2] => ({ uid, gid, cwd: home, env: { HOME: home, ...extra } });
  const claudeEnv = { ANTHROPIC_BASE_URL: 'http://127.0.0.1:PORT', ANTHROPIC_API_KEY: 'dummy', DISABLE_TELEMETRY: '1', DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', TERM: 'dumb' };

  it('the real Claude Code CLI from npm, installed where only root can write, is verified by its package', async () => {
    const exe = installClaudeCode(rootOnlyDir());
    const identity = await connectAndIdentify(exe, ['-p', 'hi'], asUser(claudeEnv));
    expect(identity).toMatchObject({ exe, uid, sharesFileView: true });
    const app = await apps.resolveApp(identity);
    expect(app, app.unverifiedWhy).toMatchObject({ appId: 'claude-code', matchedBy: 'executable', verified: true, proof: 'npm-package' });
  }, 30_000);

  it('the same package under the user’s home is Claude Code, unverified', async () => {
    // `npm config set prefix ~/.npm-global`: the folders are the user's. The files are the very
    // same root-owned inodes (hard links), so only the folder chain tells the two installs apart.
    const prefix = path.join(home, '.npm-global/lib');
    for (const dir of ['.npm-global', '.npm-global/lib', '.npm-global/lib/node_modules', '.npm-global/lib/node_modules/@anthropic-ai']) {
      mkdirSync(path.join(home, dir), { mode: 0o755 });
      chownSync(path.join(home, dir), uid, gid); // folders only: chown on a hard link would change the repository's files
    }
    const exe = installClaudeCode(prefix);
    const identity = await connectAndIdentify(exe, ['-p', 'hi'], asUser(claudeEnv));
    const app = await apps.resolveApp(identity);
    expect(app).toMatchObject({ appId: 'claude-code', verified: false });
    expect(app.proof).toBeUndefined();
    expect(app.unverifiedWhy).toContain(`${home} can be changed by someone other than root`);
  }, 30_000);

  it('a copy of curl at ~/bin/claude is named Claude Code but unverified; the system curl is verified curl', async () => {
    mkdirSync(path.join(home, 'bin'), { recursive: true });
    const fake = path.join(home, 'bin/claude');
    copyFileSync(CURL, fake);
    chownSync(path.join(home, 'bin'), uid, gid);
    chownSync(fake, uid, gid);
    chmodSync(fake, 0o755);
    const copied = await apps.resolveApp(await connectAndIdentify(fake, ['-s', '-m', '20', 'http://127.0.0.1:PORT/'], asUser()));
    expect(copied).toMatchObject({ appId: 'claude-code', matchedBy: 'executable', verified: false, unverifiedWhy: expect.stringContaining(home) });
    const curl = await apps.resolveApp(await connectAndIdentify(CURL, ['-s', '-m', '20', 'http://127.0.0.1:PORT/'], asUser()));
    expect(curl).toMatchObject({ appId: 'curl', verified: true, proof: 'root-owned-path' });
  });

  it('a process in a user namespace of its own proves nothing by its paths, even a root-owned one', async () => {
    // The user bind-mounts their curl copy over a root-owned claude inside `unshare -Urm` and runs
    // it: /proc/PID/exe shows the root-owned path, and the daemon's walk sees root's file there.
    const dir = rootOnlyDir();
    const target = path.join(dir, 'claude');
    writeFileSync(target, '', { mode: 0o755 });
    const fake = path.join(home, 'bin/claude');
    const identity = await connectAndIdentify('unshare', ['-Urm', 'sh', '-c', `mount --bind ${fake} ${target} && exec ${target} -s -m 20 http://127.0.0.1:PORT/`], asUser());
    expect(identity).toMatchObject({ exe: target, sharesFileView: false });
    expect((await checkRootOnlyPath(target)).ok).toBe(true);
    expect(await apps.resolveApp(identity)).toMatchObject({ appId: 'claude-code', verified: false, unverifiedWhy: expect.stringContaining('user namespace of its own') });
  });
});

describe.runIf(isLinux && isRoot)('scripts run by an interpreter', () => {
  // The interpreter and the script both have to be root's; the script path must be absolute, and no
  // option may load other code first. Identities are built by hand around real files on disk.
  let node = '';
  let base = '';
  let script = '';
  beforeAll(() => {
    base = rootOnlyDir();
    mkdirSync(path.join(base, 'bin'), { mode: 0o755 });
    node = path.join(base, 'bin/node');
    execFileSync('cp', ['-l', realpathSync(process.execPath), node]); // root's node, in a root-only folder
    const pkg = path.join(base, 'node_modules/@google/gemini-cli');
    mkdirSync(path.join(pkg, 'dist'), { recursive: true, mode: 0o755 });
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: '@google/gemini-cli' }));
    script = path.join(pkg, 'dist/index.js');
    writeFileSync(script, '');
  });
  const who = (argv: string[], exe = node): ProcessIdentity => ({ pid: 1, uid: 1000, user: 'alice', exe, argv, sharesFileView: true });

  it('verifies the package when the interpreter is root’s too', async () => {
    expect(await apps.resolveApp(who(['node', script]))).toMatchObject({ appId: 'gemini-cli', matchedBy: 'interpreter-script', verified: true, proof: 'npm-package' });
  });

  it('does not take a package.json that names another package as the package’s proof', async () => {
    const other = path.join(rootOnlyDir(), 'node_modules/@google/gemini-cli');
    mkdirSync(other, { recursive: true, mode: 0o755 });
    writeFileSync(path.join(other, 'package.json'), JSON.stringify({ name: 'not-gemini' }));
    writeFileSync(path.join(other, 'gemini.js'), '');
    // Root installed it, so the general proof holds; the package's own does not.
    expect(await apps.resolveApp(who(['node', path.join(other, 'gemini.js')]))).toMatchObject({ appId: 'gemini-cli', verified: true, proof: 'root-owned-path' });
  });

  it('refuses a preloaded module, a relative script, a process with its own file system and a user’s interpreter', async () => {
    expect(await apps.resolveApp(who(['node', '-r', '/home/alice/evil.js', script]))).toMatchObject({ appId: 'gemini-cli', verified: false, unverifiedWhy: expect.stringContaining('load other code') });
    expect(await apps.resolveApp(who(['node', '--import=/home/alice/evil.mjs', script]))).toMatchObject({ appId: 'gemini-cli', verified: false });
    const relative = { ...who(['node', 'node_modules/@google/gemini-cli/dist/index.js']), cwd: base };
    expect(await apps.resolveApp(relative)).toMatchObject({ appId: 'gemini-cli', verified: false, unverifiedWhy: expect.stringContaining('not an absolute path') });
    expect(await apps.resolveApp({ ...who(['node', script]), sharesFileView: false })).toMatchObject({ appId: 'gemini-cli', verified: false });
    const tmp = mkdtempSync('/tmp/heimdall-verify-node-');
    cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
    execFileSync('cp', ['-l', node, path.join(tmp, 'node')]);
    expect(await apps.resolveApp(who([path.join(tmp, 'node'), script], path.join(tmp, 'node')))).toMatchObject({ appId: 'gemini-cli', verified: false, unverifiedWhy: expect.stringContaining('/tmp') });
  });
});
