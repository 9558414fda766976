// A real Debian root for package tests: made once with debootstrap (minbase + ca-certificates +
// systemd, so update-ca-certificates and systemd-analyze have what they need), cached outside the
// repo, and copied for each test so the cache stays as debootstrap left it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

const CACHE = process.env['HEIMDALL_TEST_ROOTS'] ?? '/var/tmp/heimdall-test-roots';
const SUITE = 'bookworm';

/** The mirror apt already uses on this machine (deb.debian.org unless the sources say otherwise). */
function debianMirror(): string {
  for (const file of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    const m = /^URIs:\s*(\S+\/debian)\s*$/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s+\S+\s+main/m.exec(text);
    if (m) return m[1]!;
  }
  return 'http://deb.debian.org/debian';
}

/** The cached root, made with debootstrap the first time (a couple of minutes). */
export function cachedDebianRoot(): string {
  const root = path.join(CACHE, `${SUITE}-systemd`);
  if (existsSync(path.join(root, 'usr/bin/dpkg'))) return root;
  mkdirSync(CACHE, { recursive: true });
  const partial = `${root}.partial`;
  rmSync(partial, { recursive: true, force: true });
  execFileSync('debootstrap', ['--variant=minbase', '--include=ca-certificates,systemd', SUITE, partial, debianMirror()], { stdio: 'ignore', timeout: 15 * 60_000 });
  renameSync(partial, root);
  return root;
}

/** A private mount namespace holding /proc (and any binds) mounted into a root, for chroot commands. */
export class ChrootSession {
  readonly root: string;
  readonly #holder: ChildProcess;

  private constructor(root: string, holder: ChildProcess) {
    this.root = root;
    this.#holder = holder;
  }

  /** Mounts die with the namespace, so a failed test cannot leave them behind. */
  static async start(root: string, binds: ReadonlyArray<readonly [string, string]> = []): Promise<ChrootSession> {
    const mounts = [`mount -t proc proc '${root}/proc'`, ...binds.map(([from, to]) => `mkdir -p '${root}${to}' && mount --bind '${from}' '${root}${to}'`)];
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `${mounts.join(' && ')} && echo ready && exec sleep 3600`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`could not set up the chroot mounts (exit ${String(code)})`)));
    });
    return new ChrootSession(root, holder);
  }

  /** argv for a command run inside the root, in the namespace. */
  argv(command: readonly string[]): [string, string[]] {
    return ['nsenter', ['-t', String(this.#holder.pid), '-m', 'chroot', this.root, ...command]];
  }

  stop(): void {
    this.#holder.kill('SIGKILL');
  }
}
