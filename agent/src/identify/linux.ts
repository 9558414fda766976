// Linux: client port -> (uid, socket inode) -> the process holding that inode in /proc/PID/fd ->
// exe, argv, status, parent chain. The socket is asked of the kernel by its 4-tuple over
// NETLINK_SOCK_DIAG (agent/native/sockdiag, microseconds) when that addon is built, else found in
// /proc/net/tcp{,6} (the kernel walks its whole TCP hash per read: milliseconds). Parsers are pure;
// the reading below them is thin.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { endianness } from 'node:os';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import path from 'node:path';
import { loadSockdiagAddon } from '../lib/sockdiag-addon.ts';
import type { Logger } from '../lib/logger.ts';
import { silentLogger } from '../lib/logger.ts';
import { formatIPv6, sameAddress } from './addresses.ts';
import { runCommand } from './run-command.ts';
import type { PeerQuery, ProcessIdentity, ProcessResolver } from './types.ts';

// ---------------------------------------------------------------------------------------------
// Pure parsers

export const TCP_ESTABLISHED = 0x01;

export interface ProcNetTcpEntry {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** Kernel TCP state number (1 = ESTABLISHED). */
  state: number;
  /** The socket owner's uid. */
  uid: number;
  /** Socket inode; 0 for sockets no longer attached to a file (TIME_WAIT, orphans). */
  inode: number;
}

// The kernel prints each 32-bit word of an address with %08X in host byte order.
function wordsToBytes(hex: string, littleEndian: boolean): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let w = 0; w < hex.length / 8; w++) {
    for (let b = 0; b < 4; b++) {
      const byte = parseInt(hex.slice(w * 8 + b * 2, w * 8 + b * 2 + 2), 16);
      bytes[w * 4 + (littleEndian ? 3 - b : b)] = byte;
    }
  }
  return bytes;
}

/** Decodes `0100007F:1F90` (IPv4) or a 32-hex-digit IPv6 form into an address and a port. */
export function decodeProcNetAddress(field: string, littleEndian = endianness() === 'LE'): { address: string; port: number } | undefined {
  const m = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(field);
  if (!m?.[1] || !m[2]) return undefined;
  const bytes = wordsToBytes(m[1], littleEndian);
  const address = bytes.length === 4 ? Array.from(bytes).join('.') : formatIPv6(bytes);
  return { address, port: parseInt(m[2], 16) };
}

/** Parses the text of /proc/net/tcp or /proc/net/tcp6; lines it cannot read are skipped. */
export function parseProcNetTcp(text: string, littleEndian = endianness() === 'LE'): ProcNetTcpEntry[] {
  const entries: ProcNetTcpEntry[] = [];
  for (const line of text.split('\n')) {
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^\d+:$/.test(f[0] ?? '')) continue;
    const local = decodeProcNetAddress(f[1] ?? '', littleEndian);
    const remote = decodeProcNetAddress(f[2] ?? '', littleEndian);
    const state = parseInt(f[3] ?? '', 16);
    const uid = Number(f[7]);
    const inode = Number(f[9]);
    if (!local || !remote || !Number.isInteger(state) || !Number.isInteger(uid) || !Number.isInteger(inode)) continue;
    entries.push({ localAddress: local.address, localPort: local.port, remoteAddress: remote.address, remotePort: remote.port, state, uid, inode });
  }
  return entries;
}

/** The client end of a proxy connection: local = the app's port, remote = the proxy's port. */
export function findClientSocket(entries: readonly ProcNetTcpEntry[], query: PeerQuery): ProcNetTcpEntry | undefined {
  return entries.find(
    (e) =>
      e.state === TCP_ESTABLISHED &&
      e.inode !== 0 &&
      e.localPort === query.clientPort &&
      e.remotePort === query.proxyPort &&
      (query.clientAddress === undefined || sameAddress(e.localAddress, query.clientAddress)),
  );
}

export interface ProcStatus {
  name: string;
  /** Thread group (process) id; differs from the pid read when that pid is a thread. */
  tgid?: number;
  ppid: number;
  realUid: number;
  effectiveUid: number;
}

/** Parses /proc/PID/status; undefined when the lines that matter are missing. */
export function parseProcStatus(text: string): ProcStatus | undefined {
  const field = (key: string): string | undefined => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text)?.[1];
  const ppid = Number(field('PPid'));
  const uids = (field('Uid') ?? '').trim().split(/\s+/).map(Number);
  if (!Number.isInteger(ppid) || uids.length < 2 || !uids.every(Number.isInteger)) return undefined;
  const tgid = Number(field('Tgid'));
  return { name: field('Name') ?? '', ...(Number.isInteger(tgid) && tgid > 0 ? { tgid } : {}), ppid, realUid: uids[0] ?? -1, effectiveUid: uids[1] ?? -1 };
}

/** Splits /proc/PID/cmdline (NUL-separated, usually NUL-terminated) into argv. */
export function parseCmdline(raw: Buffer | string): string[] {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  if (text.length === 0) return [];
  const parts = text.split('\0');
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

/** uid -> name from /etc/passwd text (first entry wins, as getpwuid does). */
export function parsePasswd(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const [name, , uidText] = line.split(':');
    const uid = Number(uidText);
    if (name && uidText !== undefined && uidText !== '' && Number.isInteger(uid) && !names.has(uid)) names.set(uid, name);
  }
  return names;
}

/** `/usr/bin/foo (deleted)` is how the kernel shows an executable replaced while running. */
export function cleanExeLink(link: string): string {
  return link.endsWith(' (deleted)') ? link.slice(0, -' (deleted)'.length) : link;
}

/** One way to ask the kernel where a client socket is: family, its local end, its remote end. */
export interface SocketTuple {
  family: 4 | 6;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

function bareAddress(address: string): string {
  return address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
}

/**
 * The 4-tuples the app's socket can have, most likely first. The proxy sees the app's end; the
 * app's socket may be of the other family (an AF_INET6 socket connected to ::ffff:127.0.0.1 is
 * accepted by an IPv4 listener as 127.0.0.1, and an IPv4 client of a dual-stack listener shows
 * up as ::ffff:127.0.0.1), so both spellings are tried. Empty when the client address is unknown.
 */
export function clientSocketTuples(query: PeerQuery): SocketTuple[] {
  if (query.clientAddress === undefined) return [];
  const client = bareAddress(query.clientAddress);
  const unmap = (a: string): string | undefined => {
    const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
    return m?.[1] ?? (isIPv4(a) ? a : undefined);
  };
  const clientV4 = unmap(client);
  const proxy = query.proxyAddress === undefined ? undefined : bareAddress(query.proxyAddress);
  const proxyV4 = proxy === undefined ? '127.0.0.1' : unmap(proxy);
  const ports = { localPort: query.clientPort, remotePort: query.proxyPort };
  if (clientV4 !== undefined && proxyV4 !== undefined) {
    return [
      { family: 4, localAddress: clientV4, remoteAddress: proxyV4, ...ports },
      { family: 6, localAddress: `::ffff:${clientV4}`, remoteAddress: `::ffff:${proxyV4}`, ...ports },
    ];
  }
  const proxyV6 = proxy ?? '::1';
  if (isIPv6(client) && isIPv6(proxyV6)) return [{ family: 6, localAddress: client, remoteAddress: proxyV6, ...ports }];
  return [];
}

/** The sock_diag addon (agent/native/sockdiag): the kernel's one-socket lookup by 4-tuple. */
export interface SockDiag {
  /** The ESTABLISHED socket with this local and remote end, null when there is none; throws on failure. */
  lookupTcp(family: 4 | 6, localAddr: string, localPort: number, remoteAddr: string, remotePort: number): { uid: number; inode: number } | null;
}

/** The addon's sock_diag lookup; undefined when it is not built here (no compiler, not Linux). */
export function loadSockDiag(): SockDiag | undefined {
  if (process.platform !== 'linux') return undefined;
  const addon = loadSockdiagAddon() as Partial<SockDiag> | undefined;
  return typeof addon?.lookupTcp === 'function' ? (addon as SockDiag) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Reading /proc

const GONE_CODES = new Set(['ENOENT', 'ESRCH', 'EACCES', 'EPERM', 'ENOTDIR', 'EINVAL']);

function isGone(err: unknown): boolean {
  return GONE_CODES.has((err as NodeJS.ErrnoException).code ?? '');
}

function tryRead<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
}

export interface LinuxProcessResolverOptions {
  /** Where procfs is mounted; tests point it at a recorded tree. */
  procRoot?: string;
  passwdFile?: string;
  logger?: Logger;
  /** Processes whose fd tables are read between two turns of the event loop. */
  scanSliceSize?: number;
  /**
   * Loads the sock_diag addon; returning undefined forces /proc/net/tcp. Defaults to the addon
   * built by `npm ci`, but only for the real /proc (a recorded procRoot has no kernel behind it).
   */
  loadSockDiag?: () => SockDiag | undefined;
}

// Processes that recently held a proxy client socket are scanned first: the same few apps open
// most connections. Only the scan order is remembered; every answer is verified against the fd.
const RECENT_HOLDERS_LIMIT = 32;
// Account names are cached: /etc/passwd would be read on every new connection otherwise.
const USER_NAME_TTL_MS = 60_000;
// Pids below the newest one tried before listing /proc (a miss costs ~10 us each).
const YOUNG_PID_WINDOW = 48;
// Descriptors of a recent holder tried before listing them: its last socket's number and above.
const NEXT_FDS_TRIED = 3;
// Descriptors of a recent holder checked (after listing them) before the older young pids.
const NEWEST_FDS_FIRST = 8;

export class LinuxProcessResolver implements ProcessResolver {
  readonly platform = 'linux';
  readonly #proc: string;
  readonly #passwdFile: string;
  readonly #logger: Logger;
  readonly #sliceSize: number;
  readonly #recentHolders: number[] = [];
  /** The descriptor each recent holder's last client socket had. */
  readonly #lastFdOf = new Map<number, number>();
  /** /proc/loadavg's newest pid at the previous lookup: pids above it started since. */
  #lastPidAtLookup: number | undefined;
  readonly #userNames = new Map<number, { name: string | undefined; at: number }>();
  readonly #loadSockDiag: () => SockDiag | undefined;
  #sockDiag: SockDiag | undefined | null = null; // null: not loaded yet
  #sockDiagFailureLogged = false;
  #ownUserNamespace: string | undefined;

  constructor(options: LinuxProcessResolverOptions = {}) {
    this.#proc = options.procRoot ?? '/proc';
    this.#passwdFile = options.passwdFile ?? '/etc/passwd';
    this.#logger = options.logger ?? silentLogger();
    this.#sliceSize = options.scanSliceSize ?? 128;
    this.#loadSockDiag = options.loadSockDiag ?? (this.#proc === '/proc' ? loadSockDiag : () => undefined);
  }

  async lookupByLocalPeer(query: PeerQuery): Promise<ProcessIdentity | undefined> {
    try {
      const socket = await this.#findSocket(query);
      if (!socket) return undefined;
      const found = await this.#findHolder(socket.inode, socket.uid);
      if (!found) return undefined;
      let holder = found;
      let identity = this.#readProcess(holder.pid);
      // The young-pid probe can land on a thread id (/proc/TID/fd is the process's table): the
      // process is its thread group leader.
      if (identity?.tgid !== undefined && identity.tgid !== holder.pid) {
        holder = { pid: identity.tgid, fd: holder.fd };
        identity = this.#readProcess(holder.pid);
      }
      // The pid could have been reused between finding the fd and reading the process: the fd
      // still pointing at our socket proves the facts read belong to the right process.
      if (!identity || tryRead(() => readlinkSync(path.join(this.#proc, String(holder.pid), 'fd', holder.fd))) !== `socket:[${socket.inode}]`) {
        return undefined;
      }
      this.#remember(holder.pid, holder.fd);
      const user = await this.#userName(identity.uid);
      const cwd = tryRead(() => readlinkSync(path.join(this.#proc, String(holder.pid), 'cwd')));
      const sharesFileView = this.#sharesFileView(holder.pid);
      return {
        pid: holder.pid,
        uid: identity.uid,
        user,
        exe: identity.exe,
        argv: identity.argv,
        ...(cwd === undefined ? {} : { cwd }),
        ...(sharesFileView === undefined ? {} : { sharesFileView }),
      };
    } catch (err) {
      this.#logger.warn({ err, client_port: query.clientPort }, 'process lookup failed; treating the connection as unidentified');
      return undefined;
    }
  }

  /**
   * Whether the process's paths name the files the daemon checks: it runs in the daemon's user
   * namespace. A user makes mounts or a root directory of their own only inside a user namespace of
   * their own (`unshare -Urm`, then a bind mount over /usr/bin/claude). The mount namespace itself
   * is not compared: the daemon's own differs from everyone's under systemd (ProtectSystem,
   * PrivateTmp), and one that root made for a service is root's doing. Undefined when the kernel
   * would not say.
   */
  #sharesFileView(pid: number): boolean | undefined {
    const id = (p: string): string | undefined =>
      tryRead(() => {
        const st = statSync(p);
        return `${st.dev}:${st.ino}`;
      });
    this.#ownUserNamespace ??= id(path.join(this.#proc, 'self/ns/user'));
    const theirs = id(path.join(this.#proc, String(pid), 'ns/user'));
    return theirs === undefined || this.#ownUserNamespace === undefined ? undefined : theirs === this.#ownUserNamespace;
  }

  #sockDiagAddon(): SockDiag | undefined {
    if (this.#sockDiag === null) {
      this.#sockDiag = this.#loadSockDiag();
      this.#logger.debug(
        { method: this.#sockDiag ? 'sock_diag' : 'proc_net_tcp' },
        this.#sockDiag ? 'finding client sockets with NETLINK_SOCK_DIAG' : 'sock_diag addon not built; finding client sockets in /proc/net/tcp',
      );
    }
    return this.#sockDiag;
  }

  /**
   * The kernel's one-socket lookup. `undefined` when the answer is unknown and /proc/net/tcp must
   * be read (no addon, an error, or nothing found at a guessed proxy address); `null` when the
   * kernel says the socket does not exist.
   */
  #askKernel(query: PeerQuery): { uid: number; inode: number } | null | undefined {
    const addon = this.#sockDiagAddon();
    const tuples = clientSocketTuples(query);
    if (!addon || tuples.length === 0) return undefined;
    try {
      for (const t of tuples) {
        const found = addon.lookupTcp(t.family, t.localAddress, t.localPort, t.remoteAddress, t.remotePort);
        if (found) return found;
      }
    } catch (err) {
      if (!this.#sockDiagFailureLogged) {
        this.#sockDiagFailureLogged = true;
        this.#logger.debug({ err }, 'sock_diag lookup failed; reading /proc/net/tcp instead');
      }
      return undefined;
    }
    return query.proxyAddress === undefined ? undefined : null;
  }

  async #findSocket(query: PeerQuery): Promise<{ uid: number; inode: number } | undefined> {
    const fromKernel = this.#askKernel(query);
    if (fromKernel !== undefined) return fromKernel ?? undefined;
    // The file of the family the proxy saw first; the other one only when the app's socket is not
    // there (a dual-stack AF_INET6 client socket connected to an IPv4 address).
    const client = query.clientAddress;
    const sawIPv6 = client === undefined ? query.family === 'IPv6' : client.includes(':') && !/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(client);
    const files = sawIPv6 ? ['tcp6', 'tcp'] : ['tcp', 'tcp6'];
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(path.join(this.#proc, 'net', file), 'utf8');
      } catch (err) {
        if (isGone(err)) continue; // tcp6 is absent when IPv6 is disabled
        throw err;
      }
      const found = findClientSocket(parseProcNetTcp(text), query);
      if (found) return found;
    }
    return undefined;
  }

  async #findHolder(inode: number, uid: number): Promise<{ pid: number; fd: string } | undefined> {
    const target = `socket:[${inode}]`;
    // Listing /proc costs ~1 ms with 500 processes (the kernel walks every task), more than the
    // rest of a lookup, so likely holders are tried first, cheapest first:
    // 1. processes started since the previous lookup (a new client connects right after it starts);
    // 2. processes that recently held client sockets: first at their last socket's descriptor and
    //    just above it, then at their 8 newest descriptors (listing all of an editor's hundreds of
    //    descriptors costs more than everything else in a lookup);
    // 3. the other pids just below the newest one, then the recent holders in full;
    // 4. every process, the socket owner's first.
    const lastPid = this.#lastPid();
    const previous = this.#lastPidAtLookup;
    this.#lastPidAtLookup = lastPid;
    const youngest = lastPid === undefined ? 0 : Math.max(0, lastPid - YOUNG_PID_WINDOW);
    const started = lastPid === undefined || previous === undefined ? undefined : Math.max(previous, youngest);
    if (lastPid !== undefined && started !== undefined) {
      const found = this.#findYoungHolder(target, uid, started, lastPid);
      if (found) return found;
    }
    for (const pid of this.#recentHolders) {
      const fd = this.#nextToLastFd(pid, target);
      if (fd !== undefined) return { pid, fd };
    }
    for (const pid of [...this.#recentHolders]) {
      const fd = this.#fdHolding(pid, target, NEWEST_FDS_FIRST);
      if (fd === null) this.#forget(pid); // exited: no reason to look there again
      else if (fd !== undefined) return { pid, fd };
    }
    if (lastPid !== undefined) {
      const found = this.#findYoungHolder(target, uid, youngest, started ?? lastPid);
      if (found) return found;
    }
    for (const pid of this.#recentHolders) {
      const fd = this.#fdHolding(pid, target);
      if (fd) return { pid, fd };
    }
    const pids = readdirSync(this.#proc)
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      // Newest first: a connection is more often opened by a young process than by an old daemon.
      .sort((a, b) => b - a);
    let scanned = 0;
    const scan = async (pid: number): Promise<string | undefined> => {
      const fd = this.#fdHolding(pid, target) ?? undefined;
      if (++scanned % this.#sliceSize === 0) await yieldToLoop();
      return fd;
    };
    const recent = this.#recentHolders;
    // Then the processes of the socket's owner, then everyone else (a process that changed uid
    // after opening the socket). Owners are read lazily so a hit early costs few stat calls.
    const others: number[] = [];
    for (const pid of pids) {
      if (recent.includes(pid)) continue;
      const owner = tryRead(() => statSync(path.join(this.#proc, String(pid))).uid);
      if (owner === undefined) continue;
      if (owner !== uid) {
        others.push(pid);
        continue;
      }
      const fd = await scan(pid);
      if (fd !== undefined) return { pid, fd };
    }
    for (const pid of others) {
      const fd = await scan(pid);
      if (fd !== undefined) return { pid, fd };
    }
    return undefined;
  }

  /** The newest pid the kernel handed out (/proc/loadavg), if it says. */
  #lastPid(): number | undefined {
    const loadavg = tryRead(() => readFileSync(path.join(this.#proc, 'loadavg'), 'utf8'));
    const lastPid = Number(loadavg?.trim().split(/\s+/)[4]);
    return Number.isInteger(lastPid) && lastPid > 0 ? lastPid : undefined;
  }

  /**
   * A pid in (above, upTo], newest first, owned by `uid`, holding `target`: a process that connects
   * right after it started is just below the newest pid. Thread ids are probed too (/proc/TID/fd
   * is the process's table); the caller maps a thread to its thread group leader.
   */
  #findYoungHolder(target: string, uid: number, above: number, upTo: number): { pid: number; fd: string } | undefined {
    for (let pid = upTo; pid > above; pid--) {
      if (tryRead(() => statSync(path.join(this.#proc, String(pid))).uid) !== uid) continue;
      const fd = this.#fdHolding(pid, target);
      if (fd) return { pid, fd };
    }
    return undefined;
  }

  /**
   * The descriptor of `pid` that is `target`, checking at most `limit` of its newest ones; null when
   * the process's descriptors cannot be listed (it exited, or is another user's without root).
   */
  #fdHolding(pid: number, target: string, limit = Infinity): string | null | undefined {
    const dir = path.join(this.#proc, String(pid), 'fd');
    const fds = tryRead(() => readdirSync(dir));
    if (!fds) return null;
    // Highest first: the socket just connected is usually the process's newest descriptor, so one
    // readlink finds it instead of one per descriptor (the directory lists them as strings, 10 < 2).
    const newestFirst = fds.map(Number).sort((a, b) => b - a).slice(0, limit);
    for (const fd of newestFirst) {
      if (tryRead(() => readlinkSync(`${dir}/${fd}`)) === target) return String(fd);
    }
    return undefined;
  }

  #readProcess(pid: number): { uid: number; tgid: number | undefined; exe: string | undefined; argv: string[] } | undefined {
    const base = path.join(this.#proc, String(pid));
    const statusText = tryRead(() => readFileSync(path.join(base, 'status'), 'utf8'));
    const status = statusText === undefined ? undefined : parseProcStatus(statusText);
    if (!status) return undefined;
    const exeLink = tryRead(() => readlinkSync(path.join(base, 'exe')));
    // As text: readFileSync's utf8 path reads in C++, where a Buffer read of a procfs file (size 0)
    // allocates 64 KiB chunks and concatenates them in JavaScript (3x the time, and garbage).
    const cmdline = tryRead(() => readFileSync(path.join(base, 'cmdline'), 'utf8'));
    return { uid: status.effectiveUid, tgid: status.tgid, exe: exeLink === undefined ? undefined : cleanExeLink(exeLink), argv: cmdline ? parseCmdline(cmdline) : [] };
  }

  /**
   * Where a recent holder's next socket usually is, without listing its descriptors (hundreds for
   * an editor): the descriptor of its last one (closed, then the lowest free number reused) or
   * just above it (opened while the last one stays open).
   */
  #nextToLastFd(pid: number, target: string): string | undefined {
    const last = this.#lastFdOf.get(pid);
    if (last === undefined) return undefined;
    for (let fd = last; fd < last + NEXT_FDS_TRIED; fd++) {
      if (tryRead(() => readlinkSync(`${this.#proc}/${pid}/fd/${fd}`)) === target) return String(fd);
    }
    return undefined;
  }

  #forget(pid: number): void {
    const at = this.#recentHolders.indexOf(pid);
    if (at >= 0) this.#recentHolders.splice(at, 1);
    this.#lastFdOf.delete(pid);
  }

  #remember(pid: number, fd: string): void {
    const at = this.#recentHolders.indexOf(pid);
    if (at >= 0) this.#recentHolders.splice(at, 1);
    this.#recentHolders.unshift(pid);
    for (const dropped of this.#recentHolders.splice(RECENT_HOLDERS_LIMIT)) this.#lastFdOf.delete(dropped);
    this.#lastFdOf.set(pid, Number(fd));
  }

  async #userName(uid: number): Promise<string | undefined> {
    // Account names change rarely; a minute of caching keeps /etc/passwd off every new connection.
    const cached = this.#userNames.get(uid);
    if (cached && Date.now() - cached.at < USER_NAME_TTL_MS) return cached.name;
    const name = await this.#readUserName(uid);
    this.#userNames.set(uid, { name, at: Date.now() });
    return name;
  }

  async #readUserName(uid: number): Promise<string | undefined> {
    const text = tryRead(() => readFileSync(this.#passwdFile, 'utf8'));
    const local = text === undefined ? undefined : parsePasswd(text).get(uid);
    if (local !== undefined) return local;
    // Directory accounts (LDAP, SSSD, AD) are not in /etc/passwd; getent asks NSS like getpwuid.
    const out = await runCommand('getent', ['passwd', String(uid)], { timeoutMs: 2000 });
    return out.ok ? parsePasswd(out.stdout).get(uid) : undefined;
  }
}
