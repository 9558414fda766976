// Process identity -> app: the catalog's rows first (code signature, executable path, executable name,
// interpreter script), then a generic script id for interpreters, then a stable id from the
// executable itself so the same unknown tool is one catalog item across the fleet.
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import type { AppKind, CatalogApp, InterpreterRule, OsName, ProofKind } from './catalog.ts';
import { APP_CATALOG, APPLE_PLATFORM_TEAM, INTERPRETERS } from './catalog.ts';
import type { ProcessIdentity } from './types.ts';
import { RootPathChecker, verifyIdentity, type MatchedProgram } from './verify.ts';

/** How an app was recognised, strongest first. */
export type MatchedBy =
  | 'code-signature' // a verified macOS Team ID + identifier, or a valid Authenticode signer + executable
  | 'executable' // executable path or name from the catalog
  | 'interpreter-script' // a catalog app run as a script (`node .../@anthropic-ai/claude-code/cli.js`)
  | 'interpreter' // any other script: `script:<interpreter>:<hash of the script path>`
  | 'executable-hash' // no row matched: `exe:<sha256 of the file, 16 hex>`
  | 'executable-path' // no row matched and the file could not be read: `exe:path:<hash of the path>`
  | 'none'; // no process: `unknown`

export interface ResolvedApp {
  appId: string;
  displayName: string;
  kind: AppKind | 'unknown';
  matchedBy: MatchedBy;
  vendor?: string;
  /** For browsers: the consumer AI site this connection is for (`claude.ai`). */
  surface?: string;
  /**
   * What the id stands for when it is derived rather than a catalog row: the script (home folder as
   * `~`) or the executable path. For people (display, approval request details), never for matching.
   */
  subject?: string;
  /**
   * The catalog app the request's User-Agent claims to be. A hint only: it never decides the app
   * (any program can send `claude-cli/2.1.197`), but a claim that differs from the process is worth auditing.
   */
  userAgentAppId?: string;
  /**
   * Whether the catalog row's proof held (catalog.ts, Proof): the process is the app and not only
   * named like it. Always false for ids derived from a script or an executable (no row, no proof).
   */
  verified: boolean;
  /** The proof that held, when verified. */
  proof?: ProofKind;
  /** Why the attribution is unverified, for logs and support; never a secret (paths and reasons only). */
  unverifiedWhy?: string;
}

export interface ResolveHints {
  userAgent?: string;
  /** The host the connection is for (CONNECT target or SNI), without the port. */
  host?: string;
}

export const UNKNOWN_APP_ID = 'unknown';

// App ids travel in the edge protocol (appIdSchema: 1-64 of [A-Za-z0-9._:@+-]) and label metrics, so
// derived ids carry a hash of what they stand for, never the path itself.
function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

const DISPLAY_NAME_MAX = 128;

function displayName(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters never reach a person's screen
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > DISPLAY_NAME_MAX ? `${clean.slice(0, DISPLAY_NAME_MAX - 1)}…` : clean || '?';
}

// ---------------------------------------------------------------------------------------------
// Paths

function slashed(p: string): string {
  return p.replace(/\\/g, '/');
}

function isWindowsPath(p: string): boolean {
  return /^[a-zA-Z]:[\\/]/.test(p) || p.startsWith('\\\\');
}

function baseName(p: string): string {
  return slashed(p).split('/').pop() ?? p;
}

/**
 * A path as it is named in app ids: the user's home replaced by `~` (so `/home/alice/bin/tool` and
 * `/Users/bob/bin/tool` are one item fleet-wide), `/` separators, Windows paths in lower case.
 */
export function normalizePathForId(p: string): string {
  const win = isWindowsPath(p);
  const out = slashed(p)
    .replace(/^[a-zA-Z]:\/Users\/[^/]+(?=\/|$)/i, '~')
    .replace(/^\/(?:home|Users|var\/home)\/[^/]+(?=\/|$)/, '~')
    .replace(/^\/root(?=\/|$)/, '~');
  return win ? out.toLowerCase() : out;
}

// ---------------------------------------------------------------------------------------------
// Interpreters

export type ScriptArgument =
  | { type: 'script'; path: string }
  | { type: 'inline'; option: string }
  | { type: 'module'; name: string }
  | { type: 'none' };

export function interpreterFor(exe: string): InterpreterRule | undefined {
  const name = baseName(exe).replace(/\.exe$/i, '');
  return INTERPRETERS.find((rule) => rule.basenames.test(name));
}

/** Walks an interpreter's argv past its own options to the script it runs. */
export function findScriptArgument(rule: InterpreterRule, argv: readonly string[]): ScriptArgument {
  let i = 1;
  if (rule.subcommands?.includes(argv[1] ?? '')) i = 2;
  while (i < argv.length) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      const next = argv[i + 1];
      return next === undefined ? { type: 'none' } : { type: 'script', path: next };
    }
    if (rule.inline.includes(arg)) return { type: 'inline', option: arg };
    if (rule.modules?.includes(arg)) {
      const name = argv[i + 1];
      return name === undefined ? { type: 'none' } : { type: 'module', name };
    }
    // Python and Ruby accept a one-letter option glued to its value: `-mpip`, `-cprint(1)`.
    const glued = /^(-[a-zA-Z])(.+)$/.exec(arg);
    if (glued?.[1] && glued[2] && !arg.startsWith('--')) {
      if (rule.modules?.includes(glued[1])) return { type: 'module', name: glued[2] };
      if (rule.inline.includes(glued[1]) && rule.name !== 'node') return { type: 'inline', option: glued[1] };
    }
    if (rule.optionsWithValue.includes(arg)) {
      i += 2;
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') {
      i += 1;
      continue;
    }
    if (arg === '-') return { type: 'inline', option: '-' };
    return { type: 'script', path: arg };
  }
  return { type: 'none' };
}

function resolveScriptPath(script: string, cwd: string | undefined, platform: OsName): string {
  const lib = platform === 'win32' ? path.win32 : path.posix;
  if (lib.isAbsolute(script) || cwd === undefined) return script;
  return lib.resolve(cwd, script);
}

// ---------------------------------------------------------------------------------------------
// Catalog matching

function matchesExecutable(m: { basenames?: readonly string[]; paths?: readonly RegExp[] } | undefined, file: string, platform: OsName): 0 | 1 | 2 {
  if (!m) return 0;
  const p = slashed(file);
  if (m.paths?.some((re) => re.test(p))) return 2;
  const name = baseName(file);
  const same = platform === 'win32' ? (b: string) => b.toLowerCase() === name.toLowerCase() : (b: string) => b === name;
  return m.basenames?.some(same) ? 1 : 0;
}

function macIdentifierMatches(identifiers: readonly string[], id: string | undefined): boolean {
  return id !== undefined && identifiers.some((want) => id === want || id.startsWith(`${want}.`));
}

/** True when the process carries a checked code identity that belongs to this row. */
function codeIdentityMatches(app: CatalogApp, identity: ProcessIdentity, platform: OsName): boolean {
  if (identity.signatureStatus !== 'Valid') return false;
  if (platform === 'darwin' && app.macos) {
    const team = identity.teamId ?? (identity.authorities?.[0] === 'Software Signing' ? APPLE_PLATFORM_TEAM : undefined);
    const teamOk = team !== undefined && app.macos.teamIds.includes(team);
    return teamOk && (macIdentifierMatches(app.macos.identifiers, identity.bundleId) || macIdentifierMatches(app.macos.identifiers, identity.signingId));
  }
  if (platform === 'win32' && app.windows) {
    const signer = identity.signer?.toLowerCase();
    return signer !== undefined && app.windows.signers.some((s) => s.toLowerCase() === signer);
  }
  return false;
}

function declaresCodeIdentity(app: CatalogApp, platform: OsName): boolean {
  return (platform === 'darwin' && app.macos !== undefined) || (platform === 'win32' && app.windows !== undefined);
}

/**
 * The catalog row for a process, or undefined. A row that declares a code identity for this OS is
 * never matched by a binary whose signature was checked and does not carry it (a renamed or
 * repackaged binary is not the vendor's app); the score prefers signature, then path, then name.
 */
export function matchCatalog(
  identity: ProcessIdentity,
  platform: OsName,
  catalog: readonly CatalogApp[] = APP_CATALOG,
): { app: CatalogApp; matchedBy: MatchedBy } | undefined {
  let best: { app: CatalogApp; matchedBy: MatchedBy; score: number } | undefined;
  const consider = (app: CatalogApp, matchedBy: MatchedBy, score: number): void => {
    if (score > 0 && (!best || score > best.score)) best = { app, matchedBy, score };
  };
  const rule = identity.exe === undefined ? undefined : interpreterFor(identity.exe);
  const script = rule ? findScriptArgument(rule, identity.argv) : undefined;
  for (const app of catalog) {
    const signed = codeIdentityMatches(app, identity, platform);
    const contradicted = !signed && identity.signatureStatus !== undefined && declaresCodeIdentity(app, platform);
    const exeScore = identity.exe === undefined ? 0 : matchesExecutable(app.executables?.[platform], identity.exe, platform);
    if (signed) {
      // Windows signers sign several products (Microsoft: VS Code and Edge): the executable must agree.
      if (platform === 'darwin') consider(app, 'code-signature', 10 + exeScore);
      else if (exeScore > 0) consider(app, 'code-signature', 10 + exeScore);
    } else if (!contradicted && exeScore > 0) {
      consider(app, 'executable', 4 + exeScore);
    }
    if (script?.type === 'script') {
      const scriptScore = matchesExecutable(app.scripts, script.path, platform);
      consider(app, 'interpreter-script', scriptScore === 0 ? 0 : 1 + scriptScore);
    }
  }
  return best ? { app: best.app, matchedBy: best.matchedBy } : undefined;
}

/** The catalog app whose User-Agent pattern matches, first row first. */
export function userAgentApp(userAgent: string, catalog: readonly CatalogApp[] = APP_CATALOG): CatalogApp | undefined {
  return catalog.find((app) => app.userAgents?.some((re) => re.test(userAgent)));
}

// ---------------------------------------------------------------------------------------------
// Executable hashes

export interface ExecutableHasherOptions {
  /** Larger files are not hashed (the id falls back to the path). */
  maxBytes?: number;
  cacheSize?: number;
}

/** sha256 of executables, cached per path + size + mtime, one read per file even when asked concurrently. */
export class ExecutableHasher {
  readonly #maxBytes: number;
  readonly #cacheSize: number;
  readonly #cache = new Map<string, Promise<string | undefined>>();

  constructor(options: ExecutableHasherOptions = {}) {
    this.#maxBytes = options.maxBytes ?? 1024 * 1024 * 1024;
    this.#cacheSize = options.cacheSize ?? 512;
  }

  /** Hex sha256 of the file, or undefined when it cannot be read (gone, permissions, too large). */
  async hash(file: string): Promise<string | undefined> {
    let key: string;
    try {
      // Synchronous: a cached inode's stat takes microseconds, a round trip through libuv's thread
      // pool tens to hundreds under load, on every new connection of an uncatalogued program. The
      // key is the file's identity and content stamp, so a replaced or rewritten file is hashed again.
      const st = statSync(file);
      if (!st.isFile() || st.size > this.#maxBytes) return undefined;
      key = `${file}\0${st.dev}:${st.ino}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}`;
    } catch {
      return undefined;
    }
    const cached = this.#cache.get(key);
    if (cached) return cached;
    const pending = new Promise<string | undefined>((resolve) => {
      const digest = createHash('sha256');
      createReadStream(file)
        .on('data', (chunk) => digest.update(chunk))
        .on('end', () => resolve(digest.digest('hex')))
        .on('error', () => resolve(undefined));
    });
    this.#cache.set(key, pending);
    if (this.#cache.size > this.#cacheSize) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    const result = await pending;
    if (result === undefined) this.#cache.delete(key);
    return result;
  }
}

// ---------------------------------------------------------------------------------------------
// The resolver

export interface AppResolverOptions {
  platform?: string;
  catalog?: readonly CatalogApp[];
  hasher?: ExecutableHasher;
  rootPaths?: RootPathChecker;
}

function osName(platform: string): OsName {
  return platform === 'darwin' || platform === 'win32' ? platform : 'linux';
}

export class AppResolver {
  readonly #platform: OsName;
  readonly #catalog: readonly CatalogApp[];
  readonly #hasher: ExecutableHasher;
  readonly #rootPaths: RootPathChecker;

  constructor(options: AppResolverOptions = {}) {
    this.#platform = osName(options.platform ?? process.platform);
    this.#catalog = options.catalog ?? APP_CATALOG;
    this.#hasher = options.hasher ?? new ExecutableHasher();
    this.#rootPaths = options.rootPaths ?? new RootPathChecker();
  }

  /** What identified the process as the row, for verification. */
  #program(identity: ProcessIdentity, matchedBy: MatchedBy): MatchedProgram | undefined {
    if (matchedBy === 'code-signature') return { type: 'signature' };
    if (identity.exe === undefined) return undefined;
    if (matchedBy === 'executable') return { type: 'executable', exe: identity.exe };
    const rule = interpreterFor(identity.exe);
    const arg = rule ? findScriptArgument(rule, identity.argv) : undefined;
    // The script as the interpreter was given it: a relative one is not resolved against the
    // working directory, which the process may have changed since it loaded its code.
    return rule && arg?.type === 'script' ? { type: 'script', interpreter: identity.exe, rule, argv: identity.argv, script: arg.path } : undefined;
  }

  /** Names the app behind a process; `unknown` when there is no process. Never rejects. */
  async resolveApp(identity: ProcessIdentity | undefined, hints: ResolveHints = {}): Promise<ResolvedApp> {
    const claimed = hints.userAgent ? userAgentApp(hints.userAgent, this.#catalog) : undefined;
    const withHints = (app: ResolvedApp, row?: CatalogApp): ResolvedApp => {
      const host = hints.host?.toLowerCase().replace(/\.$/, '');
      const surface = host !== undefined && row?.surfaces?.includes(host) ? host : undefined;
      return { ...app, ...(surface ? { surface } : {}), ...(claimed ? { userAgentAppId: claimed.id } : {}) };
    };
    const unknown = { appId: UNKNOWN_APP_ID, displayName: 'Unknown app', kind: 'unknown', matchedBy: 'none', verified: false } as const;
    if (!identity) return withHints(unknown);

    const match = matchCatalog(identity, this.#platform, this.#catalog);
    if (match) {
      const { app, matchedBy } = match;
      const program = this.#program(identity, matchedBy);
      const check = program
        ? await verifyIdentity(app, this.#platform, identity, program, this.#rootPaths)
        : { verified: false, why: 'the program that matched could not be told apart' };
      return withHints(
        {
          appId: app.id,
          displayName: app.displayName,
          kind: app.kind,
          matchedBy,
          vendor: app.vendor,
          verified: check.verified,
          ...(check.proof !== undefined ? { proof: check.proof } : {}),
          ...(check.why !== undefined ? { unverifiedWhy: check.why } : {}),
        },
        app,
      );
    }
    if (identity.exe === undefined) return withHints(unknown);

    const rule = interpreterFor(identity.exe);
    if (rule) {
      const arg = findScriptArgument(rule, identity.argv);
      const target =
        arg.type === 'script'
          ? normalizePathForId(resolveScriptPath(arg.path, identity.cwd, this.#platform))
          : arg.type === 'module'
            ? `-m ${arg.name}`
            : arg.type === 'inline'
              ? arg.option
              : '<stdin>';
      const shown = arg.type === 'script' ? baseName(arg.path) : target;
      return withHints({
        appId: `script:${rule.name}:${shortHash(target)}`,
        displayName: displayName(`${shown} (${rule.name})`),
        kind: 'sdk',
        matchedBy: 'interpreter',
        subject: target,
        verified: false,
      });
    }

    const name = displayName(baseName(identity.exe));
    const exePath = normalizePathForId(identity.exe);
    const digest = await this.#hasher.hash(identity.exe);
    if (digest !== undefined) {
      return withHints({ appId: `exe:${digest.slice(0, 16)}`, displayName: name, kind: 'unknown', matchedBy: 'executable-hash', subject: exePath, verified: false });
    }
    return withHints({ appId: `exe:path:${shortHash(exePath)}`, displayName: name, kind: 'unknown', matchedBy: 'executable-path', subject: exePath, verified: false });
  }
}
