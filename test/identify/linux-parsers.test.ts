// The /proc parsers on recorded files, and the resolver on a procfs tree laid out in a temp folder
// (so a process that disappears between two reads can be staged exactly).
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { linux, LinuxProcessResolver } from '../../agent/src/identify/index.ts';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/identify/linux');
const fixture = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');

describe('/proc/net/tcp parsing', () => {
  it('decodes IPv4 entries in the kernel host-order hex format', () => {
    const entries = linux.parseProcNetTcp(fixture('proc-net-tcp.txt'), true);
    expect(entries).toContainEqual({ localAddress: '127.0.0.1', localPort: 52344, remoteAddress: '127.0.0.1', remotePort: 18080, state: 1, uid: 0, inode: 41130 });
    expect(entries.find((e) => e.state === 0x0a)).toMatchObject({ localPort: 18080, remotePort: 0 });
  });

  it('decodes IPv6 entries, including ::1 and IPv4-mapped addresses', () => {
    const entries = linux.parseProcNetTcp(fixture('proc-net-tcp6.txt'), true);
    expect(entries).toContainEqual({ localAddress: '::1', localPort: 52345, remoteAddress: '::1', remotePort: 18081, state: 1, uid: 0, inode: 41131 });
    expect(entries.find((e) => e.inode === 41135)).toMatchObject({ localAddress: '::ffff:127.0.0.1', localPort: 18082 });
  });

  it('decodes the same text as a big-endian host would print it', () => {
    expect(linux.decodeProcNetAddress('7F000001:1F90', false)).toEqual({ address: '127.0.0.1', port: 8080 });
    expect(linux.decodeProcNetAddress('0100007F:1F90', true)).toEqual({ address: '127.0.0.1', port: 8080 });
    expect(linux.decodeProcNetAddress('zz', true)).toBeUndefined();
  });

  it('picks the client end (local = client port, remote = proxy port), never the proxy end', () => {
    const entries = [...linux.parseProcNetTcp(fixture('proc-net-tcp.txt'), true), ...linux.parseProcNetTcp(fixture('proc-net-tcp6.txt'), true)];
    expect(linux.findClientSocket(entries, { clientPort: 52344, proxyPort: 18080 })?.inode).toBe(41130);
    expect(linux.findClientSocket(entries, { clientPort: 52345, proxyPort: 18081, clientAddress: '::1' })?.inode).toBe(41131);
    expect(linux.findClientSocket(entries, { clientPort: 52346, proxyPort: 18082, clientAddress: '::ffff:127.0.0.1' })?.inode).toBe(41132);
    expect(linux.findClientSocket(entries, { clientPort: 52344, proxyPort: 18080, clientAddress: '127.0.0.2' })).toBeUndefined();
    // Sockets that are not ESTABLISHED (the listener) or not attached to a process (inode 0) never match.
    expect(linux.findClientSocket(entries, { clientPort: 18080, proxyPort: 0 })).toBeUndefined();
    expect(linux.findClientSocket([{ localAddress: '127.0.0.1', localPort: 1, remoteAddress: '127.0.0.1', remotePort: 2, state: 1, uid: 0, inode: 0 }], { clientPort: 1, proxyPort: 2 })).toBeUndefined();
  });

  it('skips lines it cannot read', () => {
    expect(linux.parseProcNetTcp('garbage\n  1: nothing here\n', true)).toEqual([]);
  });
});

describe('/proc/PID parsing', () => {
  it('reads PPid and the effective uid from status', () => {
    expect(linux.parseProcStatus(fixture('proc-status.txt'))).toEqual({ name: 'cat', tgid: 17469, ppid: 17456, realUid: 0, effectiveUid: 0 });
    expect(linux.parseProcStatus('Name:\tx\nUid:\t1000\t0\t0\t0\nPPid:\t1\n')).toMatchObject({ realUid: 1000, effectiveUid: 0 });
    expect(linux.parseProcStatus('Name:\tx\n')).toBeUndefined();
  });

  it('splits cmdline on NUL, keeping spaces and unicode inside arguments', () => {
    expect(linux.parseCmdline(Buffer.from('node\0/home/zoë/My Tools/ask.mjs\0--q\0\0', 'utf8'))).toEqual(['node', '/home/zoë/My Tools/ask.mjs', '--q', '']);
    expect(linux.parseCmdline('')).toEqual([]);
  });

  it('maps uids to names from passwd, first entry winning', () => {
    const names = linux.parsePasswd('root:x:0:0:root:/root:/bin/bash\n# comment\nalice:x:1000:1000::/home/alice:/bin/sh\ntoor:x:0:0::/:/bin/sh\n+::::::\n');
    expect(names.get(0)).toBe('root');
    expect(names.get(1000)).toBe('alice');
    expect(names.size).toBe(2);
  });

  it('strips the " (deleted)" suffix of a replaced executable', () => {
    expect(linux.cleanExeLink('/usr/bin/claude (deleted)')).toBe('/usr/bin/claude');
  });
});

// A procfs tree in a temp folder: files and symlinks whose targets read like the kernel's.
const trees: string[] = [];
afterEach(() => {
  for (const t of trees.splice(0)) rmSync(t, { recursive: true, force: true });
});

function procTree(): { root: string; addProcess(pid: number, p: { ppid: number; uid: number; exe?: string; argv: string[]; fds?: Record<string, string>; status?: boolean; tgid?: number }): void } {
  const root = mkdtempSync(path.join(tmpdir(), 'heimdall-proc-'));
  trees.push(root);
  mkdirSync(path.join(root, 'net'));
  writeFileSync(path.join(root, 'net/tcp'), fixture('proc-net-tcp.txt'));
  writeFileSync(path.join(root, 'net/tcp6'), fixture('proc-net-tcp6.txt'));
  writeFileSync(path.join(root, 'passwd'), 'root:x:0:0:root:/root:/bin/bash\nzoë:x:1001:1001::/home/zoë:/bin/sh\n');
  return {
    root,
    addProcess(pid, p) {
      const dir = path.join(root, String(pid));
      mkdirSync(path.join(dir, 'fd'), { recursive: true });
      if (p.status !== false) writeFileSync(path.join(dir, 'status'), `Name:\tx\nTgid:\t${p.tgid ?? pid}\nPPid:\t${p.ppid}\nUid:\t${p.uid}\t${p.uid}\t${p.uid}\t${p.uid}\n`);
      writeFileSync(path.join(dir, 'cmdline'), p.argv.join('\0') + '\0');
      if (p.exe) symlinkSync(p.exe, path.join(dir, 'exe'));
      symlinkSync('/home/zoë', path.join(dir, 'cwd'));
      // comm with a space and a parenthesis, as the kernel allows; the start time is field 22.
      for (const [fd, target] of Object.entries(p.fds ?? {})) symlinkSync(target, path.join(dir, 'fd', fd));
    },
  };
}

describe('Linux resolver on a staged procfs', () => {
  it('follows socket inode -> pid -> exe, argv and user', async () => {
    const tree = procTree();
    tree.addProcess(1, { ppid: 0, uid: 0, exe: '/sbin/init', argv: ['/sbin/init'] });
    tree.addProcess(300, { ppid: 1, uid: 1001, exe: '/usr/bin/zsh', argv: ['-zsh'] });
    tree.addProcess(4242, { ppid: 300, uid: 1001, exe: '/home/zoë/.local/share/claude/versions/2.1.197 (deleted)', argv: ['claude', '-p', 'say hi'], fds: { '0': '/dev/null', '19': 'socket:[41130]' } });
    tree.addProcess(4243, { ppid: 300, uid: 1001, exe: '/usr/bin/sleep', argv: ['sleep', '9'], fds: { '3': 'socket:[41131]' } });
    const resolver = new LinuxProcessResolver({ procRoot: tree.root, passwdFile: path.join(tree.root, 'passwd') });
    const identity = await resolver.lookupByLocalPeer({ clientPort: 52344, proxyPort: 18080, clientAddress: '127.0.0.1' });
    expect(identity).toEqual({
      pid: 4242,
      uid: 1001,
      user: 'zoë',
      exe: '/home/zoë/.local/share/claude/versions/2.1.197',
      argv: ['claude', '-p', 'say hi'],
      cwd: '/home/zoë',
    });
    expect((await resolver.lookupByLocalPeer({ clientPort: 52345, proxyPort: 18081, family: 'IPv6' }))?.pid).toBe(4243);
  });

  it('names the process, not the thread, when the socket is found through a thread id', async () => {
    const tree = procTree();
    tree.addProcess(1, { ppid: 0, uid: 0, exe: '/sbin/init', argv: ['/sbin/init'] });
    tree.addProcess(4242, { ppid: 1, uid: 0, exe: '/usr/bin/node', argv: ['node', 'agent.js'] });
    // /proc/TID/fd is the process's descriptor table; the thread's status names its group leader.
    tree.addProcess(4250, { ppid: 1, uid: 0, exe: '/usr/bin/node', argv: ['node', 'agent.js'], tgid: 4242, fds: { '21': 'socket:[41130]' } });
    symlinkSync('socket:[41130]', path.join(tree.root, '4242', 'fd', '21'));
    const resolver = new LinuxProcessResolver({ procRoot: tree.root, passwdFile: path.join(tree.root, 'passwd') });
    expect(await resolver.lookupByLocalPeer({ clientPort: 52344, proxyPort: 18080 })).toMatchObject({ pid: 4242, argv: ['node', 'agent.js'] });
  });

  it("finds a recent holder's next socket wherever its descriptor lands, and a process started since the last lookup", async () => {
    const tree = procTree();
    writeFileSync(path.join(tree.root, 'loadavg'), '0.10 0.20 0.30 1/500 4300\n');
    tree.addProcess(1, { ppid: 0, uid: 0, exe: '/sbin/init', argv: ['/sbin/init'] });
    tree.addProcess(4242, { ppid: 1, uid: 0, exe: '/usr/bin/node', argv: ['node', 'agent.js'], fds: { '0': '/dev/null', '19': 'socket:[41130]', '20': 'socket:[999]' } });
    const resolver = new LinuxProcessResolver({ procRoot: tree.root, passwdFile: path.join(tree.root, 'passwd') });
    const fd = (n: string, target: string): void => {
      rmSync(path.join(tree.root, '4242', 'fd', n), { force: true });
      symlinkSync(target, path.join(tree.root, '4242', 'fd', n));
    };
    const pidFor = async (clientPort: number, proxyPort: number, family?: 'IPv6'): Promise<number | undefined> =>
      (await resolver.lookupByLocalPeer({ clientPort, proxyPort, ...(family ? { family } : {}) }))?.pid;
    expect(await pidFor(52344, 18080)).toBe(4242);
    // The next socket far below the last one (a low number freed long ago), the last one's number
    // holding another socket now.
    fd('19', 'socket:[777]');
    fd('3', 'socket:[41131]');
    expect(await pidFor(52345, 18081, 'IPv6')).toBe(4242);
    // A process started since (above the newest pid at the previous lookup) holds the next one.
    writeFileSync(path.join(tree.root, 'loadavg'), '0.10 0.20 0.30 1/501 4310\n');
    tree.addProcess(4310, { ppid: 1, uid: 0, exe: '/usr/bin/curl', argv: ['curl'], fds: { '5': 'socket:[41132]' } });
    expect(await pidFor(52346, 18082)).toBe(4310);
  });

  it('answers undefined when the process vanished between finding its fd and reading its status', async () => {
    const tree = procTree();
    tree.addProcess(4242, { ppid: 1, uid: 0, exe: '/usr/bin/curl', argv: ['curl'], fds: { '5': 'socket:[41130]' }, status: false });
    const resolver = new LinuxProcessResolver({ procRoot: tree.root, passwdFile: path.join(tree.root, 'passwd') });
    expect(await resolver.lookupByLocalPeer({ clientPort: 52344, proxyPort: 18080 })).toBeUndefined();
  });

  it('answers undefined when no process holds the socket any more', async () => {
    const tree = procTree();
    tree.addProcess(4242, { ppid: 1, uid: 0, exe: '/usr/bin/curl', argv: ['curl'], fds: { '5': 'socket:[999]' } });
    const resolver = new LinuxProcessResolver({ procRoot: tree.root, passwdFile: path.join(tree.root, 'passwd') });
    expect(await resolver.lookupByLocalPeer({ clientPort: 52344, proxyPort: 18080 })).toBeUndefined();
  });

  it('keeps the identity without an executable when the OS will not say (no exe link)', async () => {
    const tree = procTree();
    tree.addProcess(4242, { ppid: 1, uid: 0, argv: ['mystery'], fds: { '5': 'socket:[41130]' } });
    const resolver = new LinuxProcessResolver({ procRoot: tree.root, passwdFile: path.join(tree.root, 'passwd') });
    expect(await resolver.lookupByLocalPeer({ clientPort: 52344, proxyPort: 18080 })).toMatchObject({ pid: 4242, exe: undefined, user: 'root' });
  });
});
