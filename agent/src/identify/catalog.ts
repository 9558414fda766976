// The app catalog: every AI app Heimdall names, as data. Adding an app means adding a row here (and a
// test), never a branch in the matching code (resolve-app.ts).
//
// Code identities were taken from the vendors' signed releases as published (macOS Team IDs and
// signing identifiers; Windows Authenticode signer names). A wrong Team ID or signer only makes
// the app unknown on that OS (it is then governed as a pending app), never grants another app's rights.
import type { KnownAppId } from '../../../protocol/index.ts';

export const APP_KINDS = ['cli', 'desktop', 'ide', 'browser', 'sdk'] as const;
export type AppKind = (typeof APP_KINDS)[number];

export type OsName = 'linux' | 'darwin' | 'win32';

export interface ExecutableMatcher {
  /** File names of the executable (case-insensitive on Windows, exact elsewhere). */
  basenames?: readonly string[];
  /** Tested against the whole path with `/` separators (Windows paths are converted first). */
  paths?: readonly RegExp[];
}

export interface MacCodeIdentity {
  /** Bundle or signing identifiers; `com.x.app` also covers its helpers (`com.x.app.helper.Renderer`). */
  identifiers: readonly string[];
  /** Developer Team IDs allowed to sign them; APPLE_PLATFORM_TEAM for Apple's own binaries. */
  teamIds: readonly string[];
}

export interface WindowsCodeIdentity {
  /** Authenticode signer common names (CN of the leaf certificate). */
  signers: readonly string[];
}

/**
 * What proves that a process is this app rather than a program named like it. A name or a path
 * pattern is a claim anyone can make (`cp /usr/bin/curl ~/bin/claude`); a proof is something an
 * unprivileged user cannot produce cheaply:
 * - `code-signature`: a valid signature carrying the row's macOS Team ID + identifier or Windows
 *   Authenticode signer (the `macos` / `windows` columns).
 * - `root-owned-path`: the executable that matched the row, and every directory above it, can be
 *   written only by root (uid 0 owner, no write bit for others, none for a group other than gid 0):
 *   an administrator put it there.
 * - `npm-package`: the program (the executable, or the script an interpreter runs, and then the
 *   interpreter too) lies in `node_modules/<name>/` whose `package.json` says `"name": "<name>"`,
 *   with the package.json, the program and every directory above them writable only by root. A
 *   package.json in a folder the user can write proves nothing: anyone can write one.
 * Where no proof exists for an OS (Claude Code's native installer writes under the user's home,
 * unsigned, on Linux) the row still names the app, and the attribution is recorded as unverified.
 */
export type Proof = { kind: 'code-signature' } | { kind: 'root-owned-path' } | { kind: 'npm-package'; name: string };
export type ProofKind = Proof['kind'];

export interface CatalogApp {
  /** Stable id used by policy, audit, metrics and the control plane; listed in protocol/app-ids.ts. */
  id: KnownAppId;
  displayName: string;
  vendor: string;
  kind: AppKind;
  executables?: Partial<Record<OsName, ExecutableMatcher>>;
  macos?: MacCodeIdentity;
  windows?: WindowsCodeIdentity;
  /** Apps shipped as scripts run by an interpreter (`node .../bin/claude`): the script argument. */
  scripts?: ExecutableMatcher;
  /** User-Agent patterns the app sends; a hint only (any program can send any User-Agent). */
  userAgents?: readonly RegExp[];
  /** Browsers: consumer AI sites they may visit, reported as the connection's surface. */
  surfaces?: readonly string[];
  /** Per OS, what counts as proof of this app's identity (see Proof); absent: nothing does there. */
  proof?: Partial<Record<OsName, readonly Proof[]>>;
  /**
   * The app pins its server certificates, so a terminated TLS connection fails: Heimdall tunnels it
   * when allowed and refuses its CONNECT when blocked.
   */
  pinsCertificates?: boolean;
}

/** Apple's own binaries carry no Team ID; they are signed by "Software Signing". */
export const APPLE_PLATFORM_TEAM = 'apple:software-signing';

/** Consumer AI websites: no gateway route serves them, so they are governed and audited per browser. */
export const CONSUMER_SURFACES = [
  'claude.ai',
  'chatgpt.com',
  'chat.openai.com',
  'gemini.google.com',
  'copilot.microsoft.com',
  'perplexity.ai',
  'www.perplexity.ai',
  'chat.deepseek.com',
  'grok.com',
  'chat.mistral.ai',
  'poe.com',
] as const;

const SIGNED: readonly Proof[] = [{ kind: 'code-signature' }];
const ROOT_PATH: readonly Proof[] = [{ kind: 'root-owned-path' }];
/**
 * An npm CLI: the named package installed by root (`sudo npm i -g`), else any root-only install (a
 * distribution package). The first proof that holds is the one recorded, so the specific one leads.
 */
const npmCli = (name: string): readonly Proof[] => [{ kind: 'npm-package', name }, { kind: 'root-owned-path' }];
/** Desktop apps and browsers: signed on macOS and Windows, installed by root on Linux (.deb, .rpm). */
const SIGNED_OR_SYSTEM = { linux: ROOT_PATH, darwin: SIGNED, win32: SIGNED } as const;

const ANTHROPIC_TEAM = 'Q6L2SF6YDW';
const OPENAI_TEAM = '2DC432GLL2';
const MICROSOFT_TEAM = 'UBF8T346G9';
const GOOGLE_TEAM = 'EQHXZ8M8AV';

export const APP_CATALOG = [
  {
    id: 'claude-code',
    displayName: 'Claude Code',
    vendor: 'Anthropic',
    kind: 'cli',
    executables: {
      // The native build installs to ~/.local/share/claude/versions/<version>, linked from ~/.local/bin/claude;
      // the npm package ships the same binary inside node_modules/@anthropic-ai/claude-code.
      linux: { basenames: ['claude'], paths: [/\/\.local\/share\/claude\/versions\/[^/]+$/, /\/@anthropic-ai\/claude-code\//] },
      darwin: { basenames: ['claude'], paths: [/\/\.local\/share\/claude\/versions\/[^/]+$/, /\/@anthropic-ai\/claude-code\//] },
      win32: { basenames: ['claude.exe'], paths: [/\/\.local\/bin\/claude\.exe$/i, /\/\.local\/share\/claude\/versions\/[^/]+$/, /\/@anthropic-ai\/claude-code\//] },
    },
    macos: { identifiers: ['com.anthropic.claude-code'], teamIds: [ANTHROPIC_TEAM] },
    windows: { signers: ['Anthropic, PBC', 'Anthropic PBC'] },
    scripts: { basenames: ['claude'], paths: [/\/@anthropic-ai\/claude-code\//] },
    // The native installer's ~/.local/share/claude/versions is the user's own: unverified on Linux.
    proof: { linux: npmCli('@anthropic-ai/claude-code'), darwin: [...SIGNED, ...npmCli('@anthropic-ai/claude-code')], win32: SIGNED },
    userAgents: [/^claude-cli\//, /^claude-code\//],
  },
  {
    id: 'claude-desktop',
    displayName: 'Claude Desktop',
    vendor: 'Anthropic',
    kind: 'desktop',
    executables: {
      darwin: { paths: [/\/Claude\.app\/Contents\//] },
      win32: { basenames: ['claude.exe'], paths: [/\/AnthropicClaude\//i, /\/Claude\/app-[^/]+\/claude\.exe$/i] },
    },
    macos: { identifiers: ['com.anthropic.claudefordesktop'], teamIds: [ANTHROPIC_TEAM] },
    windows: { signers: ['Anthropic, PBC', 'Anthropic PBC'] },
    proof: SIGNED_OR_SYSTEM,
    userAgents: [/\bClaude\/\d[^ ]* .*Electron\//],
  },
  {
    id: 'codex-cli',
    displayName: 'Codex CLI',
    vendor: 'OpenAI',
    kind: 'cli',
    executables: {
      // npm's @openai/codex runs a small node launcher that execs the native binary under vendor/.
      linux: { basenames: ['codex'], paths: [/\/@openai\/codex\//] },
      darwin: { basenames: ['codex'], paths: [/\/@openai\/codex\//] },
      win32: { basenames: ['codex.exe'], paths: [/\/@openai\/codex\//] },
    },
    macos: { identifiers: ['codex'], teamIds: [OPENAI_TEAM] },
    windows: { signers: ['OpenAI OpCo, LLC', 'OpenAI, L.L.C.'] },
    scripts: { basenames: ['codex', 'codex.js'], paths: [/\/@openai\/codex\//] },
    proof: { linux: npmCli('@openai/codex'), darwin: [...SIGNED, ...npmCli('@openai/codex')], win32: SIGNED },
    userAgents: [/^codex_exec\//, /^codex_cli_rs\//, /^codex-tui\//],
  },
  {
    id: 'codex-desktop',
    displayName: 'Codex desktop',
    vendor: 'OpenAI',
    kind: 'desktop',
    executables: {
      darwin: { paths: [/\/Codex\.app\/Contents\//] },
      win32: { basenames: ['codex desktop.exe'], paths: [/\/OpenAI\/Codex\//i] },
    },
    macos: { identifiers: ['com.openai.codex'], teamIds: [OPENAI_TEAM] },
    windows: { signers: ['OpenAI OpCo, LLC', 'OpenAI, L.L.C.'] },
    proof: SIGNED_OR_SYSTEM,
    userAgents: [/^Codex Desktop\//, /^codex_vscode\//],
  },
  {
    id: 'gemini-cli',
    displayName: 'Gemini CLI',
    vendor: 'Google',
    kind: 'cli',
    executables: {
      linux: { basenames: ['gemini'], paths: [/\/@google\/gemini-cli\//] },
      darwin: { basenames: ['gemini'], paths: [/\/@google\/gemini-cli\//] },
      win32: { basenames: ['gemini.exe'], paths: [/\/@google\/gemini-cli\//] },
    },
    scripts: { basenames: ['gemini', 'gemini.js'], paths: [/\/@google\/gemini-cli\//] },
    // Not signed: on Windows nothing proves it (folder ACLs are not read).
    proof: { linux: npmCli('@google/gemini-cli'), darwin: npmCli('@google/gemini-cli') },
    userAgents: [/^GeminiCLI(-[a-z]+)?\//],
  },
  {
    id: 'cursor',
    displayName: 'Cursor',
    vendor: 'Anysphere',
    kind: 'ide',
    executables: {
      // The Linux AppImage mounts under /tmp/.mount_Cursor*/; .deb installs to /usr/share/cursor.
      linux: { basenames: ['cursor'], paths: [/\/cursor\/cursor$/i, /\/\.mount_Cursor[^/]*\//] },
      darwin: { paths: [/\/Cursor\.app\/Contents\//] },
      win32: { basenames: ['cursor.exe'], paths: [/\/Programs\/cursor\//i] },
    },
    macos: { identifiers: ['com.todesktop.230313mzl4w4u92'], teamIds: ['VDXQ22DGB9'] },
    windows: { signers: ['Anysphere, Inc.', 'Anysphere Inc.'] },
    proof: SIGNED_OR_SYSTEM,
    userAgents: [/\bCursor\/\d/],
  },
  {
    id: 'vscode',
    displayName: 'VS Code / Copilot',
    vendor: 'Microsoft',
    kind: 'ide',
    executables: {
      linux: { basenames: ['code', 'code-insiders'], paths: [/\/share\/code(-insiders)?\/code(-insiders)?$/, /\/\.vscode-server\/.*\/node$/] },
      darwin: { paths: [/\/Visual Studio Code( - Insiders)?\.app\/Contents\//] },
      win32: { basenames: ['code.exe', 'code - insiders.exe'], paths: [/\/Microsoft VS Code( Insiders)?\//i] },
    },
    macos: { identifiers: ['com.microsoft.VSCode', 'com.microsoft.VSCodeInsiders'], teamIds: [MICROSOFT_TEAM] },
    windows: { signers: ['Microsoft Corporation'] },
    proof: SIGNED_OR_SYSTEM,
    userAgents: [/^GitHubCopilotChat\//, /\bCode\/\d[^ ]* Chrome\//, /^vscode\//i],
  },
  {
    id: 'windsurf',
    displayName: 'Windsurf',
    vendor: 'Codeium',
    kind: 'ide',
    executables: {
      linux: { basenames: ['windsurf'], paths: [/\/windsurf\/windsurf$/i] },
      darwin: { paths: [/\/Windsurf\.app\/Contents\//] },
      win32: { basenames: ['windsurf.exe'], paths: [/\/Programs\/Windsurf\//i] },
    },
    macos: { identifiers: ['com.exafunction.windsurf'], teamIds: ['83Z2LHX6XW'] },
    windows: { signers: ['Exafunction, Inc.', 'Codeium, Inc.'] },
    proof: SIGNED_OR_SYSTEM,
    userAgents: [/\bWindsurf\/\d/],
  },
  {
    id: 'opencode',
    displayName: 'OpenCode',
    vendor: 'SST',
    kind: 'cli',
    executables: {
      linux: { basenames: ['opencode'], paths: [/\/opencode-ai\//, /\/\.opencode\/bin\/opencode$/] },
      darwin: { basenames: ['opencode'], paths: [/\/opencode-ai\//, /\/\.opencode\/bin\/opencode$/] },
      win32: { basenames: ['opencode.exe'], paths: [/\/opencode-ai\//] },
    },
    scripts: { basenames: ['opencode'], paths: [/\/opencode-ai\//] },
    proof: { linux: npmCli('opencode-ai'), darwin: npmCli('opencode-ai') },
    userAgents: [/^opencode\//],
  },
  {
    id: 'chatgpt-desktop',
    displayName: 'ChatGPT desktop',
    vendor: 'OpenAI',
    kind: 'desktop',
    executables: {
      darwin: { paths: [/\/ChatGPT\.app\/Contents\/(MacOS|Frameworks)\//] },
      win32: { basenames: ['chatgpt.exe'], paths: [/\/OpenAI\.ChatGPT-Desktop_/i] },
    },
    macos: { identifiers: ['com.openai.chat'], teamIds: [OPENAI_TEAM] },
    windows: { signers: ['OpenAI OpCo, LLC', 'OpenAI, L.L.C.'] },
    proof: SIGNED_OR_SYSTEM,
    userAgents: [/^ChatGPT\/\d/],
    pinsCertificates: true,
  },
  {
    id: 'edge',
    displayName: 'Microsoft Edge',
    vendor: 'Microsoft',
    kind: 'browser',
    executables: {
      linux: { basenames: ['msedge'], paths: [/^\/opt\/microsoft\/msedge(-beta|-dev)?\/msedge$/] },
      darwin: { paths: [/\/Microsoft Edge( Beta| Dev| Canary)?\.app\/Contents\//] },
      win32: { basenames: ['msedge.exe'], paths: [/\/Microsoft\/Edge\/Application\/msedge\.exe$/i] },
    },
    macos: { identifiers: ['com.microsoft.edgemac'], teamIds: [MICROSOFT_TEAM] },
    windows: { signers: ['Microsoft Corporation'] },
    proof: SIGNED_OR_SYSTEM,
    userAgents: [/ Edg\/\d/],
    surfaces: CONSUMER_SURFACES,
  },
  {
    id: 'chrome',
    displayName: 'Google Chrome',
    vendor: 'Google',
    kind: 'browser',
    executables: {
      linux: { basenames: ['chrome'], paths: [/^\/opt\/google\/chrome(-beta|-unstable)?\/chrome$/] },
      darwin: { paths: [/\/Google Chrome( Beta| Canary)?\.app\/Contents\//] },
      win32: { basenames: ['chrome.exe'], paths: [/\/Google\/Chrome\/Application\/chrome\.exe$/i] },
    },
    macos: { identifiers: ['com.google.Chrome', 'com.google.Chrome.beta', 'com.google.Chrome.canary'], teamIds: [GOOGLE_TEAM] },
    windows: { signers: ['Google LLC'] },
    proof: SIGNED_OR_SYSTEM,
    userAgents: [/ Chrome\/\d/],
    surfaces: CONSUMER_SURFACES,
  },
  {
    id: 'firefox',
    displayName: 'Firefox',
    vendor: 'Mozilla',
    kind: 'browser',
    executables: {
      linux: { basenames: ['firefox', 'firefox-esr', 'firefox-bin'], paths: [/\/firefox(-esr)?\/firefox(-bin)?$/] },
      darwin: { paths: [/\/Firefox( Developer Edition| Nightly)?\.app\/Contents\//] },
      win32: { basenames: ['firefox.exe'], paths: [/\/Mozilla Firefox\/firefox\.exe$/i] },
    },
    macos: { identifiers: ['org.mozilla.firefox', 'org.mozilla.firefoxdeveloperedition', 'org.mozilla.nightly'], teamIds: ['43AQ936H96'] },
    windows: { signers: ['Mozilla Corporation'] },
    proof: SIGNED_OR_SYSTEM,
    userAgents: [/ Firefox\/\d/],
    surfaces: CONSUMER_SURFACES,
  },
  {
    id: 'safari',
    displayName: 'Safari',
    vendor: 'Apple',
    kind: 'browser',
    executables: {
      // Safari's requests leave from WebKit's shared networking service, not from Safari itself; any
      // app's web view uses the same service, so its traffic is attributed to Safari.
      darwin: { paths: [/\/Safari\.app\/Contents\//, /\/com\.apple\.WebKit\.Networking\.xpc\//] },
    },
    macos: { identifiers: ['com.apple.Safari', 'com.apple.WebKit.Networking'], teamIds: [APPLE_PLATFORM_TEAM] },
    proof: { darwin: SIGNED },
    userAgents: [/ Version\/[\d.]+ Safari\//],
    surfaces: CONSUMER_SURFACES,
  },
  {
    id: 'curl',
    displayName: 'curl',
    vendor: 'curl project',
    kind: 'cli',
    executables: {
      linux: { basenames: ['curl'] },
      darwin: { basenames: ['curl'] },
      win32: { basenames: ['curl.exe'] },
    },
    // No code identity on purpose: Homebrew's and conda's builds are curl too.
    // The system's curl (/usr/bin/curl) is root's; a copy in a home folder proves nothing.
    proof: { linux: ROOT_PATH, darwin: ROOT_PATH },
    userAgents: [/^curl\//],
  },
] as const satisfies readonly CatalogApp[];

export type CatalogAppId = (typeof APP_CATALOG)[number]['id'];

/** Interpreters whose scripts are named as `script:<interpreter>:<script path>`. */
export interface InterpreterRule {
  /** Name used in app ids: `node`, `python3`... */
  name: string;
  /** Executable file names (without `.exe`; compared case-insensitively). */
  basenames: RegExp;
  /** Options that take the next argument as their value (`-r mod`, `--require mod`). */
  optionsWithValue: readonly string[];
  /** Options after which the code is given inline (`-e code`) or the script is a module (`-m mod`). */
  inline: readonly string[];
  modules?: readonly string[];
  /**
   * Options that load code of the caller's choosing before the script (`node -r ~/evil.js cli.js`):
   * with one of them the process is not the script's program alone, so it proves no identity.
   */
  preloads?: readonly string[];
  /** A first argument to skip (`deno run script.ts`, `bun run script.ts`). */
  subcommands?: readonly string[];
}

export const INTERPRETERS: readonly InterpreterRule[] = [
  {
    name: 'node',
    basenames: /^(node|nodejs)$/i,
    optionsWithValue: ['-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--conditions', '--env-file', '--input-type', '--title', '--inspect-port', '--stack-size'],
    inline: ['-e', '--eval', '-p', '--print'],
    preloads: ['-r', '--require', '--import', '--loader', '--experimental-loader'],
  },
  {
    name: 'python3',
    basenames: /^python3(\.\d+)?w?$/i,
    optionsWithValue: ['-W', '-X', '--check-hash-based-pycs'],
    inline: ['-c'],
    modules: ['-m'],
  },
  {
    name: 'python',
    basenames: /^pythonw?$/i,
    optionsWithValue: ['-W', '-X', '--check-hash-based-pycs'],
    inline: ['-c'],
    modules: ['-m'],
  },
  {
    name: 'bun',
    basenames: /^bun$/i,
    optionsWithValue: ['-r', '--preload', '--cwd', '--config', '-c', '--env-file', '--tsconfig-override'],
    inline: ['-e', '--eval', '-p', '--print'],
    preloads: ['-r', '--preload'],
    subcommands: ['run'],
  },
  {
    name: 'deno',
    basenames: /^deno$/i,
    optionsWithValue: ['-c', '--config', '--import-map', '-L', '--log-level', '--location', '--seed', '--v8-flags', '--env-file'],
    inline: ['eval'],
    subcommands: ['run', 'serve', 'test'],
  },
  {
    name: 'ruby',
    basenames: /^ruby(\d+(\.\d+)*)?$/i,
    optionsWithValue: ['-r', '-I', '-C', '-E', '--encoding'],
    inline: ['-e'],
    preloads: ['-r', '-I'],
  },
];
