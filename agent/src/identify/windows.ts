// Windows: client port -> `netstat -ano` (owning PID) -> one PowerShell CIM query for the process,
// its owner and its parent chain -> Authenticode signer and company (cached per file).
// Commands are built and their output parsed by the pure functions below; the resolver only runs them.
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
// netstat

/** All TCP connections, IPv4 and IPv6, with owning PIDs. */
export function buildNetstatCommand(): Command {
  return { file: 'netstat.exe', args: ['-ano'] };
}

export interface NetstatRow {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** As printed; localised on non-English Windows (`HERGESTELLT`), so it is not relied upon. */
  state: string;
  pid: number;
}

function splitEndpoint(endpoint: string): { address: string; port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d+|\*)$/.exec(endpoint);
  if (!m?.[1] || !m[2] || m[2] === '*') return undefined;
  return { address: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** Parses `netstat -ano`: TCP rows only; headers (which Windows translates) are skipped by shape. */
export function parseNetstat(text: string): NetstatRow[] {
  const rows: NetstatRow[] = [];
  for (const line of text.split(/\r?\n/)) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== 'TCP' || f.length < 5) continue;
    const local = splitEndpoint(f[1] ?? '');
    const remote = splitEndpoint(f[2] ?? '');
    const pid = Number(f.at(-1));
    if (!local || !remote || !Number.isInteger(pid)) continue;
    rows.push({ localAddress: local.address, localPort: local.port, remoteAddress: remote.address, remotePort: remote.port, state: f.slice(3, -1).join(' '), pid });
  }
  return rows;
}

/**
 * The client end of the proxy connection. The four-tuple is unique, so the (localised) state is not
 * needed; PID 0 is what netstat shows for a socket whose process has gone.
 */
export function pickClientPid(rows: readonly NetstatRow[], query: PeerQuery): number | undefined {
  const row = rows.find(
    (r) =>
      r.localPort === query.clientPort &&
      r.remotePort === query.proxyPort &&
      (query.clientAddress === undefined || sameAddress(r.localAddress, query.clientAddress)),
  );
  return row && row.pid > 0 ? row.pid : undefined;
}

// ---------------------------------------------------------------------------------------------
// PowerShell

/** A PowerShell single-quoted string literal: nothing inside is interpreted, `'` is doubled. */
export function psQuote(value: string): string {
  return `'${value.replace(/['\u2018\u2019\u201a\u201b]/g, (q) => q + q)}'`;
}

function powershell(script: string): Command {
  // UTF-8 out so paths with non-ASCII names survive; -EncodedCommand avoids every quoting layer of
  // the command line (it is base64 of UTF-16LE, as PowerShell defines it).
  const full = `$ErrorActionPreference='Stop';[Console]::OutputEncoding=[Text.Encoding]::UTF8;${script}`;
  return {
    file: 'powershell.exe',
    args: ['-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand', Buffer.from(full, 'utf16le').toString('base64')],
  };
}

/** The process and its owner, as JSON. */
export function buildProcessCommand(pid: number): Command {
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`not a process id: ${pid}`);
  return powershell(
    [
      `$p=Get-CimInstance -ClassName Win32_Process -Filter "ProcessId=${pid}" -ErrorAction SilentlyContinue`,
      `if(-not $p){exit 0}`,
      `$u=$null;$d=$null`,
      `$o=Invoke-CimMethod -InputObject $p -MethodName GetOwner -ErrorAction SilentlyContinue;if($o){$u=$o.User;$d=$o.Domain}`,
      `ConvertTo-Json -InputObject @([pscustomobject]@{ProcessId=[int]$p.ProcessId;ParentProcessId=[int]$p.ParentProcessId;Name=$p.Name;ExecutablePath=$p.ExecutablePath;CommandLine=$p.CommandLine;User=$u;Domain=$d}) -Depth 3 -Compress`,
    ].join(';'),
  );
}

export interface WindowsProcess {
  pid: number;
  ppid: number;
  name: string | undefined;
  exe: string | undefined;
  commandLine: string | undefined;
  /** `DOMAIN\user`, from the process's owner. */
  user: string | undefined;
}

function asArray(value: unknown): unknown[] {
  // ConvertTo-Json writes a one-element array as a bare object on Windows PowerShell 5.1.
  if (Array.isArray(value)) return value;
  return value === null || value === undefined || value === '' ? [] : [value];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Parses the JSON written by buildProcessCommand (an array, or one object as PowerShell 5.1 writes it); undefined for empty output (process gone) or garbage. */
export function parseProcesses(json: string): WindowsProcess[] | undefined {
  const text = json.replace(/^\uFEFF/, '').trim();
  if (text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const out: WindowsProcess[] = [];
  for (const item of asArray(value)) {
    if (item === null || typeof item !== 'object') continue;
    const r = item as Record<string, unknown>;
    const pid = Number(r.ProcessId);
    if (!Number.isInteger(pid)) continue;
    const user = str(r.User);
    const domain = str(r.Domain);
    out.push({
      pid,
      ppid: Number(r.ParentProcessId) || 0,
      name: str(r.Name),
      exe: str(r.ExecutablePath),
      commandLine: str(r.CommandLine),
      user: user === undefined ? undefined : domain === undefined ? user : `${domain}\\${user}`,
    });
  }
  return out.length > 0 ? out : undefined;
}

/** Splits a Windows command line as CommandLineToArgvW does (quotes, backslashes before quotes). */
export function splitWindowsCommandLine(commandLine: string): string[] {
  const args: string[] = [];
  let i = 0;
  const n = commandLine.length;
  // argv[0] follows simpler rules: it ends at the first space outside quotes, backslashes are literal.
  while (i < n && /\s/.test(commandLine[i] ?? '')) i++;
  if (i >= n) return args;
  let first = '';
  let quoted = false;
  for (; i < n; i++) {
    const c = commandLine[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === ' ' || c === '\t')) break;
    else first += c;
  }
  args.push(first);
  for (;;) {
    while (i < n && (commandLine[i] === ' ' || commandLine[i] === '\t')) i++;
    if (i >= n) break;
    let arg = '';
    let inQuotes = false;
    while (i < n) {
      const c = commandLine[i];
      if (c === '\\') {
        let slashes = 0;
        while (commandLine[i] === '\\') {
          slashes++;
          i++;
        }
        if (commandLine[i] === '"') {
          arg += '\\'.repeat(Math.floor(slashes / 2));
          if (slashes % 2 === 1) {
            arg += '"';
            i++;
          }
        } else {
          arg += '\\'.repeat(slashes);
        }
        continue;
      }
      if (c === '"') {
        if (inQuotes && commandLine[i + 1] === '"') {
          arg += '"';
          i += 2;
          continue;
        }
        inQuotes = !inQuotes;
        i++;
        continue;
      }
      if (!inQuotes && (c === ' ' || c === '\t')) break;
      arg += c;
      i++;
    }
    args.push(arg);
  }
  return args;
}

// ---------------------------------------------------------------------------------------------
// Authenticode

export function buildSignatureCommand(executable: string): Command {
  const p = psQuote(executable);
  return powershell(
    [
      `$s=Get-AuthenticodeSignature -LiteralPath ${p}`,
      `$v=(Get-Item -LiteralPath ${p}).VersionInfo`,
      `[pscustomobject]@{Status=[string]$s.Status;StatusMessage=$s.StatusMessage;Subject=$s.SignerCertificate.Subject;Thumbprint=$s.SignerCertificate.Thumbprint;CompanyName=$v.CompanyName} | ConvertTo-Json -Compress`,
    ].join(';'),
  );
}

/** RFC 4514-ish DN as Windows prints it: `CN="Anthropic, PBC", O="Anthropic, PBC", C=US`. */
export function parseDistinguishedName(dn: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < dn.length) {
    while (dn[i] === ' ' || dn[i] === ',' || dn[i] === '+') i++;
    const eq = dn.indexOf('=', i);
    if (eq < 0) break;
    const key = dn.slice(i, eq).trim().toUpperCase();
    i = eq + 1;
    let value = '';
    if (dn[i] === '"') {
      i++;
      while (i < dn.length) {
        if (dn[i] === '"' && dn[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (dn[i] === '"') {
          i++;
          break;
        } else {
          value += dn[i];
          i++;
        }
      }
    } else {
      while (i < dn.length && dn[i] !== ',' && dn[i] !== '+') {
        if (dn[i] === '\\' && i + 1 < dn.length) i++;
        value += dn[i];
        i++;
      }
      value = value.trim();
    }
    if (!out.has(key)) out.set(key, value);
  }
  return out;
}

export interface AuthenticodeFacts {
  /** Authenticode status name (`Valid`, `NotSigned`, `HashMismatch`, `NotTrusted`...) or `Unknown`. */
  status: string;
  signer?: string;
  company?: string;
}

const STATUS_NAMES = ['Valid', 'UnknownError', 'NotSigned', 'HashMismatch', 'NotTrusted', 'NotSupportedFileFormat', 'Incompatible'];

/** Parses the JSON written by buildSignatureCommand. */
export function parseSignature(json: string): AuthenticodeFacts {
  let r: Record<string, unknown>;
  try {
    const value: unknown = JSON.parse(json.replace(/^\uFEFF/, '').trim());
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return { status: 'Unknown' };
    r = value as Record<string, unknown>;
  } catch {
    return { status: 'Unknown' };
  }
  // Status is a string when the script casts it; older captures have the enum's number.
  const status = typeof r.Status === 'number' ? (STATUS_NAMES[r.Status] ?? 'Unknown') : (str(r.Status) ?? 'Unknown');
  const subject = str(r.Subject);
  const signer = subject === undefined ? undefined : parseDistinguishedName(subject).get('CN');
  const company = str(r.CompanyName)?.trim();
  return { status, ...(signer ? { signer } : {}), ...(company ? { company } : {}) };
}

// ---------------------------------------------------------------------------------------------
// The resolver

export interface WindowsProcessResolverOptions {
  run?: CommandRunner;
  logger?: Logger;
  stamp?: FileStamp;
}

export class WindowsProcessResolver implements ProcessResolver {
  readonly platform = 'win32';
  readonly #run: CommandRunner;
  readonly #logger: Logger;
  readonly #signatures: ExeFactsCache<AuthenticodeFacts>;

  constructor(options: WindowsProcessResolverOptions = {}) {
    this.#run = options.run ?? runCommand;
    this.#logger = options.logger ?? silentLogger();
    this.#signatures = new ExeFactsCache<AuthenticodeFacts>(options.stamp ? { stamp: options.stamp } : {});
  }

  async lookupByLocalPeer(query: PeerQuery): Promise<ProcessIdentity | undefined> {
    try {
      const netstat = buildNetstatCommand();
      const table = await this.#run(netstat.file, netstat.args, { timeoutMs: 5000 });
      if (!table.ok) return undefined;
      const pid = pickClientPid(parseNetstat(table.stdout), query);
      if (pid === undefined) return undefined;
      const processCmd = buildProcessCommand(pid);
      const processOut = await this.#run(processCmd.file, processCmd.args, { timeoutMs: 10_000 });
      const self = processOut.ok ? parseProcesses(processOut.stdout)?.[0] : undefined;
      if (!self || self.pid !== pid) return undefined;
      const sig = self.exe === undefined ? undefined : await this.#signatures.get(self.exe, () => this.#signature(self.exe ?? ''));
      return {
        pid,
        uid: undefined,
        user: self.user,
        exe: self.exe,
        argv: self.commandLine !== undefined ? splitWindowsCommandLine(self.commandLine) : self.exe !== undefined ? [self.exe] : [],
        ...(sig && sig.status !== 'Unknown'
          ? { signatureStatus: sig.status, ...(sig.status === 'Valid' && sig.signer ? { signer: sig.signer } : {}), ...(sig.company ? { company: sig.company } : {}) }
          : {}),
      };
    } catch (err) {
      this.#logger.warn({ err, client_port: query.clientPort }, 'process lookup failed; treating the connection as unidentified');
      return undefined;
    }
  }

  async #signature(executable: string): Promise<AuthenticodeFacts> {
    const cmd = buildSignatureCommand(executable);
    const out = await this.#run(cmd.file, cmd.args, { timeoutMs: 15_000 });
    return out.ok ? parseSignature(out.stdout) : { status: 'Unknown' };
  }
}
