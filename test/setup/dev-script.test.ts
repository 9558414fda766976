// scripts/dev.sh, the set-up under every npm script and CI: run for real on a throwaway project root
// (a copy of the script, a lockfile, a stand-in `npm` that records what it was asked), so the tests
// never reinstall the project's own node_modules.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '../..');
// Commands the script itself uses, and those the test suite needs (its TEST_PACKAGES table).
const SCRIPT_COMMANDS = ['bash', 'sh', 'cat', 'cut', 'sha256sum', 'dirname', 'mkdir', 'rm', 'ls', 'head', 'ln', 'uname', 'tr', 'id', 'printf'];
const TEST_COMMANDS = ['curl', 'openssl', 'python3', 'ps', 'ss', 'setpriv', 'useradd', 'make', 'g++', 'chromium', 'xmllint', 'unzip', 'perl', 'wixl', 'msiinfo', 'aarch64-linux-gnu-g++', 'x86_64-w64-mingw32-gcc', 'x86_64-w64-mingw32-objdump', 'osslsigncode', 'file', 'readelf', 'qemu-aarch64', 'debootstrap', 'rpmbuild', 'rpmlint', 'lintian', 'bsdtar', 'certutil', 'cpio', 'systemd-analyze'];

let root: string;
let bin: string;

function which(command: string): string {
  // Prefer the system's copy: a tool under root's home (pyenv's python3) is not reachable as nobody.
  if (existsSync(`/usr/bin/${command}`)) return `/usr/bin/${command}`;
  return execFileSync('bash', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim();
}

/** A PATH folder with this Node, a recording `npm`, and every listed command. */
function makeBin(commands: readonly string[]): void {
  mkdirSync(bin, { recursive: true });
  symlinkSync(process.execPath, path.join(bin, 'node'));
  for (const c of commands) symlinkSync(which(c), path.join(bin, c));
  // The stand-in npm records its arguments; `npm ci` would leave a node_modules folder behind.
  writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\necho "$*" >> "${root}/npm-calls"\nmkdir -p "${root}/node_modules"\n`);
  chmodSync(path.join(bin, 'npm'), 0o755);
}

function runDev(args: string[], opts: { asNobody?: boolean } = {}): { status: number | null; stderr: string } {
  const command = opts.asNobody ? 'setpriv' : path.join(bin, 'bash');
  const argv = opts.asNobody
    ? ['--reuid=65534', '--regid=65534', '--clear-groups', path.join(bin, 'bash'), path.join(root, 'scripts/dev.sh'), ...args]
    : [path.join(root, 'scripts/dev.sh'), ...args];
  const r = spawnSync(command, argv, { encoding: 'utf8', env: { PATH: bin, HOME: root }, cwd: root });
  return { status: r.status, stderr: r.stderr };
}

function npmCalls(): string[] {
  const file = path.join(root, 'npm-calls');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
}

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'heimdall-devsh-'));
  chmodSync(root, 0o755);
  bin = path.join(root, 'bin');
  mkdirSync(path.join(root, 'scripts'));
  copyFileSync(path.join(repo, 'scripts/dev.sh'), path.join(root, 'scripts/dev.sh'));
  writeFileSync(path.join(root, 'package-lock.json'), '{"lockfileVersion": 3}\n');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('scripts/dev.sh', () => {
  it('installs the dependencies once, and again only when the lockfile changes', () => {
    makeBin([...SCRIPT_COMMANDS, ...TEST_COMMANDS]);
    expect(runDev(['setup']).status).toBe(0);
    expect(npmCalls()).toEqual([expect.stringMatching(/^ci /)]);
    const second = runDev(['setup']);
    expect(second.status).toBe(0);
    expect(second.stderr).not.toContain('installing the npm dependencies');
    expect(npmCalls()).toHaveLength(1);
    writeFileSync(path.join(root, 'package-lock.json'), '{"lockfileVersion": 3, "packages": {}}\n');
    expect(runDev(['setup']).status).toBe(0);
    expect(npmCalls()).toHaveLength(2);
  });

  it('uses a Node 22.18+ found on PATH and fetches nothing', () => {
    makeBin([...SCRIPT_COMMANDS, ...TEST_COMMANDS]);
    const r = runDev(['setup']);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`ready: Node ${process.version} at ${path.join(bin, 'node')}`);
    expect(npmCalls().some((c) => c.includes('node@22'))).toBe(false);
    expect(existsSync(path.join(root, '.tools'))).toBe(false);
  });

  it('names a missing Debian package and the command that installs it, when not root', () => {
    makeBin([...SCRIPT_COMMANDS, ...TEST_COMMANDS]);
    expect(runDev(['setup']).status).toBe(0); // the dependencies, installed once as root
    rmSync(path.join(bin, 'curl'));
    rmSync(path.join(bin, 'ss'));
    const r = runDev(['setup'], { asNobody: true });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('the tests need these Debian packages, which are missing: curl iproute2');
    expect(r.stderr).toContain('Fix: sudo apt-get install -y curl iproute2');
    expect(r.stderr).toContain('install the packages that provide: curl ss');
  });

  it('refuses an unknown task and lists the accepted ones', () => {
    makeBin(SCRIPT_COMMANDS);
    const r = runDev(['deploy']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('unknown task "deploy"; accepted: setup, demo, test, lint, typecheck, bench, bundle, package, package-os');
    expect(npmCalls()).toEqual([]);
  });
});
