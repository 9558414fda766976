// macOS: client port -> `lsof -F` (pid, uid, login, parent) -> `ps` for the parent chain and argv,
// `lsof -d txt` for executable paths -> `codesign` for Team ID and identifier (cached per file).
// No native addon: every fact comes from a system tool whose output is parsed by a pure function below.
import type { Logger } from '../lib/logger.ts';
import { silentLogger } from '../lib/logger.ts';
import { sameAddress } from './addresses.ts';
import { ExeFactsCache, type FileStamp } from './exe-facts-cache.ts';
import { runCommand, type CommandRunner } from './run-command.ts';
import type { PeerQuery, ProcessIdentity, ProcessResolver } from './types.ts';

export interface Command {
  file: string;
  args: string[];
}

// ---------------------------------------------------------------------------------------------
// lsof -F

export interface LsofFile {
  fd: string;
  name?: string;
  /** TCP state from the `TST=` field, when lsof printed it. */
  tcpState?: string;
}

export interface LsofProcess {
  pid: number;
  ppid?: number;
  command?: string;
  uid?: number;
  login?: string;
  files: LsofFile[];
}

/** The client's socket: `-iTCP:PORT` selects both ends of the connection; the parser tells them apart. */
export function buildLsofSocketCommand(clientPort: number): Command {
  return { file: '/usr/sbin/lsof', args: ['-nP', `-iTCP:${clientPort}`, '-sTCP:ESTABLISHED', '-F', 'pcRuLfnT'] };
}

/** Executables of several processes: the first `txt` entry of each is its program file. */
export function buildLsofExecutablesCommand(pids: readonly number[]): Command {
  return { file: '/usr/sbin/lsof', args: ['-nP', '-a', '-p', pids.join(','), '-d', 'txt', '-F', 'pfn'] };
}

/** Parses `lsof -F` output: one line per field, `p` starting a process, `f` starting a file in it. */
export function parseLsofFields(text: string): LsofProcess[] {
  const processes: LsofProcess[] = [];
  let proc: LsofProcess | undefined;
  let file: LsofFile | undefined;
  for (const line of text.split('\n')) {
    if (line.length < 2) continue;
    const tag = line[0];
    const value = line.slice(1);
    if (tag === 'p') {
      const pid = Number(value);
      if (!Number.isInteger(pid)) {
        proc = undefined;
        continue;
      }
      proc = { pid, files: [] };
      file = undefined;
      processes.push(proc);
      continue;
    }
    if (!proc) continue;
    switch (tag) {
      case 'c':
        proc.command = value;
        break;
      case 'R':
        proc.ppid = Number(value);
        break;
      case 'u':
        proc.uid = Number(value);
        break;
      case 'L':
        proc.login = value;
        break;
      case 'f':
        file = { fd: value };
        proc.files.push(file);
        break;
      case 'n':
        if (file) file.name = value;
        break;
      case 'T':
        if (file && value.startsWith('ST=')) file.tcpState = value.slice(3);
        break;
      default:
        break;
    }
  }
  return processes;
}

/** Splits `127.0.0.1:52344->127.0.0.1:8080` or `[::1]:52344->[::1]:8080` into its two ends. */
export function parseLsofConnection(name: string): { localAddress: string; localPort: number; remoteAddress: string; remotePort: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d+)->(\[[^\]]+\]|[^:\s]+):(\d+)/.exec(name);
  if (!m?.[1] || !m[2] || !m[3] || !m[4]) return undefined;
  const unbracket = (a: string): string => a.replace(/^\[|\]$/g, '');
  return { localAddress: unbracket(m[1]), localPort: Number(m[2]), remoteAddress: unbracket(m[3]), remotePort: Number(m[4]) };
}

/** The process whose socket has the client port locally and the proxy port remotely (not the proxy's own end). */
export function pickClientProcess(processes: readonly LsofProcess[], query: PeerQuery): LsofProcess | undefined {
  return processes.find((p) =>
    p.files.some((f) => {
      const conn = f.name === undefined ? undefined : parseLsofConnection(f.name);
      return (
        conn !== undefined &&
        conn.localPort === query.clientPort &&
        conn.remotePort === query.proxyPort &&
        (f.tcpState === undefined || f.tcpState === 'ESTABLISHED') &&
        (query.clientAddress === undefined || sameAddress(conn.localAddress, query.clientAddress))
      );
    }),
  );
}

/** pid -> first `txt` file (the program) from `lsof -d txt -F pfn`. */
export function parseLsofExecutables(text: string): Map<number, string> {
  const exes = new Map<number, string>();
  for (const p of parseLsofFields(text)) {
    const program = p.files.find((f) => f.fd === 'txt' && f.name !== undefined);
    if (program?.name) exes.set(p.pid, program.name);
  }
  return exes;
}

// ---------------------------------------------------------------------------------------------
// ps

export function buildPsArgsCommand(pids: readonly number[]): Command {
  return { file: '/bin/ps', args: ['-ww', '-o', 'pid=,args=', '-p', pids.join(',')] };
}

/**
 * pid -> argv from `ps -o pid=,args=`. ps joins argv with spaces, so an argument that itself holds a
 * space is split here; matching uses executable paths from lsof, and argv only for script names.
 */
export function parsePsArgs(text: string): Map<number, string[]> {
  const args = new Map<number, string[]>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (m?.[2] !== undefined) args.set(Number(m[1]), m[2].trim().split(/\s+/).filter(Boolean));
  }
  return args;
}

export function buildIdCommand(uid: number): Command {
  return { file: '/usr/bin/id', args: ['-un', String(uid)] };
}

// ---------------------------------------------------------------------------------------------
// codesign

export function buildCodesignDisplayCommand(executable: string): Command {
  return { file: '/usr/bin/codesign', args: ['-dv', '--verbose=2', executable] };
}

export function buildCodesignVerifyCommand(executable: string): Command {
  return { file: '/usr/bin/codesign', args: ['--verify', '--strict', executable] };
}

export interface CodeSignature {
  /** `Valid`, `NotSigned`, `AdHoc`, `Invalid` (signed but failing verification) or `Unknown` (file gone, tool failed). */
  status: 'Valid' | 'NotSigned' | 'AdHoc' | 'Invalid' | 'Unknown';
  identifier?: string;
  teamId?: string;
  /** Set when codesign reports an app bundle: the identifier is then the bundle's. */
  bundleId?: string;
  authorities: string[];
}

/** Parses what `codesign -dv --verbose=2` writes to stderr. */
export function parseCodesignDisplay(stderr: string): Omit<CodeSignature, 'status'> & { signed: boolean; adhoc: boolean } {
  const field = (key: string): string | undefined => new RegExp(`^${key}=(.*)$`, 'm').exec(stderr)?.[1]?.trim();
  const authorities = [...stderr.matchAll(/^Authority=(.+)$/gm)].map((m) => (m[1] ?? '').trim());
  const team = field('TeamIdentifier');
  const identifier = field('Identifier');
  const format = field('Format') ?? '';
  const signed = identifier !== undefined && !/code object is not signed/.test(stderr);
  const adhoc = field('Signature') === 'adhoc' || /flags=0x[0-9a-f]*\([^)]*adhoc/.test(stderr);
  return {
    signed,
    adhoc,
    authorities,
    ...(identifier !== undefined ? { identifier } : {}),
    ...(team !== undefined && team !== 'not set' ? { teamId: team } : {}),
    ...(identifier !== undefined && /bundle/.test(format) ? { bundleId: identifier } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// The resolver

export interface DarwinProcessResolverOptions {
  run?: CommandRunner;
  logger?: Logger;
  stamp?: FileStamp;
}

export class DarwinProcessResolver implements ProcessResolver {
  readonly platform = 'darwin';
  readonly #run: CommandRunner;
  readonly #logger: Logger;
  readonly #signatures: ExeFactsCache<CodeSignature>;

  constructor(options: DarwinProcessResolverOptions = {}) {
    this.#run = options.run ?? runCommand;
    this.#logger = options.logger ?? silentLogger();
    this.#signatures = new ExeFactsCache<CodeSignature>(options.stamp ? { stamp: options.stamp } : {});
  }

  async #exec(cmd: Command, timeoutMs = 5000): Promise<string | undefined> {
    const out = await this.#run(cmd.file, cmd.args, { timeoutMs });
    return out.ok ? out.stdout : undefined;
  }

  async lookupByLocalPeer(query: PeerQuery): Promise<ProcessIdentity | undefined> {
    try {
      const socketText = await this.#exec(buildLsofSocketCommand(query.clientPort));
      const client = socketText === undefined ? undefined : pickClientProcess(parseLsofFields(socketText), query);
      if (!client) return undefined;
      const pids = [client.pid];
      const [exeText, argsText] = await Promise.all([this.#exec(buildLsofExecutablesCommand(pids)), this.#exec(buildPsArgsCommand(pids))]);
      const exes = exeText === undefined ? new Map<number, string>() : parseLsofExecutables(exeText);
      const argvs = argsText === undefined ? new Map<number, string[]>() : parsePsArgs(argsText);
      // No executable and no argv: the process ended between lsof and ps.
      if (!exes.has(client.pid) && !argvs.has(client.pid)) return undefined;
      const exe = exes.get(client.pid);
      const signature = exe === undefined ? undefined : await this.#signatures.get(exe, () => this.#codeSignature(exe));
      const user = client.login ?? (client.uid === undefined ? undefined : (await this.#exec(buildIdCommand(client.uid)))?.trim());
      return {
        pid: client.pid,
        uid: client.uid,
        user: user || undefined,
        exe,
        argv: argvs.get(client.pid) ?? [],
        ...(signature && signature.status !== 'Unknown' ? codeIdentityFields(signature) : {}),
      };
    } catch (err) {
      this.#logger.warn({ err, client_port: query.clientPort }, 'process lookup failed; treating the connection as unidentified');
      return undefined;
    }
  }

  async #codeSignature(executable: string): Promise<CodeSignature> {
    const [display, verify] = await Promise.all([
      this.#run(buildCodesignDisplayCommand(executable).file, buildCodesignDisplayCommand(executable).args, { timeoutMs: 10_000 }),
      this.#run(buildCodesignVerifyCommand(executable).file, buildCodesignVerifyCommand(executable).args, { timeoutMs: 30_000 }),
    ]);
    return codeSignatureFrom(display.stderr, display.ok, verify.ok);
  }
}

/** Combines `codesign -dv` (what the signature says) and `codesign --verify` (whether it holds). */
export function codeSignatureFrom(displayStderr: string, displayOk: boolean, verifyOk: boolean): CodeSignature {
  const parsed = parseCodesignDisplay(displayStderr);
  const { signed, adhoc, ...facts } = parsed;
  if (/code object is not signed/.test(displayStderr)) return { status: 'NotSigned', authorities: [] };
  if (!displayOk || !signed) return { status: 'Unknown', authorities: [] };
  if (adhoc) return { ...facts, status: 'AdHoc' };
  return { ...facts, status: verifyOk ? 'Valid' : 'Invalid' };
}

function codeIdentityFields(sig: CodeSignature): Partial<ProcessIdentity> {
  return {
    signatureStatus: sig.status,
    ...(sig.teamId !== undefined ? { teamId: sig.teamId } : {}),
    ...(sig.bundleId !== undefined ? { bundleId: sig.bundleId } : {}),
    ...(sig.identifier !== undefined ? { signingId: sig.identifier } : {}),
    ...(sig.authorities.length > 0 ? { authorities: sig.authorities } : {}),
  };
}
