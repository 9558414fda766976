// Process identity -> app, over the catalog table: every row reachable, signatures beating names,
// interpreters walked to their script, and stable ids for tools no row knows.
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  APP_CATALOG,
  AppResolver,
  findScriptArgument,
  INTERPRETERS,
  normalizePathForId,
  type OsName,
  type ProcessIdentity,
} from '../../agent/src/identify/index.ts';
import { appIdSchema } from '../../protocol/index.ts';

function proc(exe: string | undefined, argv: string[], extra: Partial<ProcessIdentity> = {}): ProcessIdentity {
  return { pid: 100, uid: 501, user: 'zoe', exe, argv, ...extra };
}

const DEV_ID_ANTHROPIC = { signatureStatus: 'Valid', teamId: 'Q6L2SF6YDW' };
const DEV_ID_OPENAI = { signatureStatus: 'Valid', teamId: '2DC432GLL2' };

// [what, platform, identity, expected app id, expected matchedBy]
const CASES: [string, OsName, ProcessIdentity, string, string][] = [
  ['Claude Code native build', 'linux', proc('/home/zoe/.local/share/claude/versions/2.1.197', ['claude', '-p', 'hi']), 'claude-code', 'executable'],
  ['Claude Code via npm shebang', 'linux', proc('/usr/bin/node', ['node', '/usr/local/bin/claude', '-p', 'hi']), 'claude-code', 'interpreter-script'],
  ['Claude Code npm cli.js', 'linux', proc('/usr/bin/node', ['node', '--no-warnings', '/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js']), 'claude-code', 'interpreter-script'],
  ['Claude Code signed on macOS', 'darwin', proc('/Users/zoe/.local/share/claude/versions/2.1.197', ['claude'], { ...DEV_ID_ANTHROPIC, signingId: 'com.anthropic.claude-code' }), 'claude-code', 'code-signature'],
  ['Claude Desktop helper', 'darwin', proc('/Applications/Claude.app/Contents/Frameworks/Claude Helper.app/Contents/MacOS/Claude Helper', [], { ...DEV_ID_ANTHROPIC, bundleId: 'com.anthropic.claudefordesktop.helper' }), 'claude-desktop', 'code-signature'],
  ['Claude Desktop on Windows', 'win32', proc('C:\\Users\\zoe\\AppData\\Local\\AnthropicClaude\\app-0.14.1\\claude.exe', [], { signatureStatus: 'Valid', signer: 'Anthropic, PBC' }), 'claude-desktop', 'code-signature'],
  ['Codex CLI vendored binary', 'linux', proc('/usr/lib/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex', ['codex', 'exec', 'hi']), 'codex-cli', 'executable'],
  ['Codex CLI signed on macOS', 'darwin', proc('/opt/homebrew/bin/codex', ['codex'], { ...DEV_ID_OPENAI, signingId: 'codex' }), 'codex-cli', 'code-signature'],
  ['Codex desktop', 'darwin', proc('/Applications/Codex.app/Contents/MacOS/Codex', [], { ...DEV_ID_OPENAI, bundleId: 'com.openai.codex' }), 'codex-desktop', 'code-signature'],
  ['Gemini CLI', 'linux', proc('/usr/bin/node', ['node', '/usr/local/lib/node_modules/@google/gemini-cli/dist/index.js']), 'gemini-cli', 'interpreter-script'],
  ['Gemini CLI by link name', 'darwin', proc('/opt/homebrew/bin/node', ['node', '/opt/homebrew/bin/gemini']), 'gemini-cli', 'interpreter-script'],
  ['Cursor AppImage', 'linux', proc('/tmp/.mount_Cursor8Hk2s/usr/share/cursor/cursor', ['cursor', '--type=utility']), 'cursor', 'executable'],
  ['Cursor on macOS', 'darwin', proc('/Applications/Cursor.app/Contents/Frameworks/Cursor Helper (Plugin).app/Contents/MacOS/Cursor Helper (Plugin)', [], { signatureStatus: 'Valid', teamId: 'VDXQ22DGB9', bundleId: 'com.todesktop.230313mzl4w4u92.helper.Plugin' }), 'cursor', 'code-signature'],
  ['VS Code on Linux', 'linux', proc('/usr/share/code/code', ['/usr/share/code/code', '--type=utility']), 'vscode', 'executable'],
  ['VS Code on Windows', 'win32', proc('C:\\Users\\zoe\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe', [], { signatureStatus: 'Valid', signer: 'Microsoft Corporation' }), 'vscode', 'code-signature'],
  ['Edge on Windows (same signer as VS Code)', 'win32', proc('C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe', [], { signatureStatus: 'Valid', signer: 'Microsoft Corporation' }), 'edge', 'code-signature'],
  ['Windsurf', 'darwin', proc('/Applications/Windsurf.app/Contents/MacOS/Electron', [], { signatureStatus: 'Valid', teamId: '83Z2LHX6XW', bundleId: 'com.exafunction.windsurf' }), 'windsurf', 'code-signature'],
  ['OpenCode', 'linux', proc('/home/zoe/.opencode/bin/opencode', ['opencode']), 'opencode', 'executable'],
  ['ChatGPT desktop', 'darwin', proc('/Applications/ChatGPT.app/Contents/MacOS/ChatGPT', [], { ...DEV_ID_OPENAI, bundleId: 'com.openai.chat' }), 'chatgpt-desktop', 'code-signature'],
  ['Chrome on Linux', 'linux', proc('/opt/google/chrome/chrome', ['/opt/google/chrome/chrome', '--type=utility']), 'chrome', 'executable'],
  ['Edge on Linux', 'linux', proc('/opt/microsoft/msedge/msedge', ['msedge']), 'edge', 'executable'],
  ['Firefox ESR', 'linux', proc('/usr/lib/firefox-esr/firefox-esr', ['firefox-esr']), 'firefox', 'executable'],
  ['Safari networking', 'darwin', proc('/System/Library/Frameworks/WebKit.framework/Versions/A/XPCServices/com.apple.WebKit.Networking.xpc/Contents/MacOS/com.apple.WebKit.Networking', [], { signatureStatus: 'Valid', authorities: ['Software Signing', 'Apple Code Signing Certification Authority', 'Apple Root CA'], signingId: 'com.apple.WebKit.Networking' }), 'safari', 'code-signature'],
  ['Homebrew curl (ad-hoc signed)', 'darwin', proc('/opt/homebrew/Cellar/curl/8.11.0/bin/curl', ['curl'], { signatureStatus: 'AdHoc', signingId: 'curl' }), 'curl', 'executable'],
  ['curl.exe', 'win32', proc('C:\\Windows\\System32\\curl.exe', ['curl', 'https://x'], { signatureStatus: 'Valid', signer: 'Microsoft Windows' }), 'curl', 'executable'],
];

describe('catalog matching', () => {
  it.each(CASES)('%s', async (_what, platform, identity, appId, matchedBy) => {
    const app = await new AppResolver({ platform }).resolveApp(identity);
    expect(app.appId).toBe(appId);
    expect(app.matchedBy).toBe(matchedBy);
  });

  it('reaches every catalog row from at least one case', () => {
    const reached = new Set(CASES.map((c) => c[3]));
    expect(APP_CATALOG.map((a) => a.id).filter((id) => !reached.has(id))).toEqual([]);
  });

  it('has unique ids that fit the edge protocol', () => {
    const ids = APP_CATALOG.map((a) => a.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(appIdSchema.safeParse(id).success).toBe(true);
  });

  it('does not give a repackaged or unsigned binary the vendor app it pretends to be', async () => {
    const resolver = new AppResolver({ platform: 'darwin' });
    const fake = proc('/Users/zoe/Downloads/Claude.app/Contents/MacOS/Claude', [], { signatureStatus: 'NotSigned' });
    expect((await resolver.resolveApp(fake)).appId).not.toBe('claude-desktop');
    const otherTeam = proc('/Applications/Claude.app/Contents/MacOS/Claude', [], { signatureStatus: 'Valid', teamId: 'ABCDE12345', bundleId: 'com.anthropic.claudefordesktop' });
    expect((await resolver.resolveApp(otherTeam)).appId).not.toBe('claude-desktop');
    const win = new AppResolver({ platform: 'win32' });
    const wrongSigner = proc('C:\\Users\\zoe\\AppData\\Local\\Programs\\cursor\\Cursor.exe', [], { signatureStatus: 'Valid', signer: 'Evil Corp' });
    expect((await win.resolveApp(wrongSigner)).appId).not.toBe('cursor');
  });

  it('takes a User-Agent as a claim to report, never as the app', async () => {
    const resolver = new AppResolver({ platform: 'linux' });
    const script = proc('/usr/bin/python3.11', ['python3', '/home/zoe/spoof.py'], { cwd: '/home/zoe' });
    const app = await resolver.resolveApp(script, { userAgent: 'claude-cli/2.1.197 (external, sdk-cli)' });
    expect(app.appId).toMatch(/^script:python3:/);
    expect(app.userAgentAppId).toBe('claude-code');
    expect((await resolver.resolveApp(undefined, { userAgent: 'codex_exec/0.169.0 (Debian 12.0.0; x86_64)' })).userAgentAppId).toBe('codex-cli');
    expect((await resolver.resolveApp(undefined, { userAgent: 'GeminiCLI-tui/0.61.0/gemini-3 (linux; x64; terminal)' })).userAgentAppId).toBe('gemini-cli');
    const edgeUa = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0';
    expect((await resolver.resolveApp(undefined, { userAgent: edgeUa })).userAgentAppId).toBe('edge');
  });

  it('reports the consumer surface a browser connection is for', async () => {
    const chrome = proc('/opt/google/chrome/chrome', ['chrome']);
    const resolver = new AppResolver({ platform: 'linux' });
    expect((await resolver.resolveApp(chrome, { host: 'Claude.AI' })).surface).toBe('claude.ai');
    expect((await resolver.resolveApp(chrome, { host: 'api.anthropic.com' })).surface).toBeUndefined();
    expect((await resolver.resolveApp(proc('/usr/bin/curl', ['curl']), { host: 'claude.ai' })).surface).toBeUndefined();
  });
});

describe('interpreters', () => {
  const rule = (name: string) => INTERPRETERS.find((r) => r.name === name)!;

  it.each([
    ['node', ['node', '--require', 'dotenv/config', '--no-warnings', 'app.mjs', '--x'], { type: 'script', path: 'app.mjs' }],
    ['node', ['node', '-e', 'fetch(1)'], { type: 'inline', option: '-e' }],
    ['node', ['node'], { type: 'none' }],
    ['node', ['node', '--', '-weird.mjs'], { type: 'script', path: '-weird.mjs' }],
    ['python3', ['python3', '-u', '-W', 'ignore', 'ask.py'], { type: 'script', path: 'ask.py' }],
    ['python3', ['python3', '-m', 'openai', 'api'], { type: 'module', name: 'openai' }],
    ['python3', ['python3', '-mllm'], { type: 'module', name: 'llm' }],
    ['python3', ['python3', '-c', 'import x'], { type: 'inline', option: '-c' }],
    ['bun', ['bun', 'run', '--preload', 'x.ts', 'agent.ts'], { type: 'script', path: 'agent.ts' }],
    ['deno', ['deno', 'run', '--allow-net', '-c', 'deno.json', 'main.ts'], { type: 'script', path: 'main.ts' }],
    ['ruby', ['ruby', '-I', 'lib', 'bot.rb'], { type: 'script', path: 'bot.rb' }],
  ] as const)('%s %j', (name, argv, expected) => {
    expect(findScriptArgument(rule(name), argv)).toEqual(expected);
  });

  it('gives one id to one script across homes, OS users and interpreter versions', async () => {
    const linux = new AppResolver({ platform: 'linux' });
    const a = await linux.resolveApp(proc('/usr/bin/python3.11', ['python3', 'tools/ask.py'], { cwd: '/home/alice' }));
    const b = await linux.resolveApp(proc('/opt/py/bin/python3.13', ['python3', '/home/bob/tools/ask.py']));
    const c = await new AppResolver({ platform: 'darwin' }).resolveApp(proc('/opt/homebrew/bin/python3.13', ['python3', '/Users/carol/tools/ask.py']));
    expect(a.appId).toBe(b.appId);
    expect(a.appId).toBe(c.appId);
    expect(a.subject).toBe('~/tools/ask.py');
    expect(a.displayName).toBe('ask.py (python3)');
    const m = await linux.resolveApp(proc('/usr/bin/python3.11', ['python3', '-m', 'llm']));
    expect(m).toMatchObject({ subject: '-m llm', displayName: '-m llm (python3)' });
    const win = await new AppResolver({ platform: 'win32' }).resolveApp(proc('C:\\Python313\\python.exe', ['python', 'C:\\Users\\Dave\\Tools\\Ask.py']));
    expect(win.appId).toMatch(/^script:python:/);
    expect(win.subject).toBe('~/tools/ask.py');
  });

  it('normalises home folders and Windows paths for ids', () => {
    expect(normalizePathForId('/home/zoë/bin/x')).toBe('~/bin/x');
    expect(normalizePathForId('/Users/zoe/bin/x')).toBe('~/bin/x');
    expect(normalizePathForId('/root/x')).toBe('~/x');
    expect(normalizePathForId('C:\\Users\\Zoe\\AppData\\Local\\X\\Tool.EXE')).toBe('~/appdata/local/x/tool.exe');
    expect(normalizePathForId('/opt/tool')).toBe('/opt/tool');
  });
});

describe('unknown executables', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('are one id wherever the same file lives, a content hash; another file is another id', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'heimdall-exe-'));
    dirs.push(root);
    mkdirSync(path.join(root, 'a'));
    mkdirSync(path.join(root, 'b'));
    writeFileSync(path.join(root, 'a', 'llm-tool'), '#!/bin/sh\necho tool v1\n');
    copyFileSync(path.join(root, 'a', 'llm-tool'), path.join(root, 'b', 'llm-tool'));
    writeFileSync(path.join(root, 'b', 'other-tool'), '#!/bin/sh\necho tool v2\n');
    const resolver = new AppResolver({ platform: 'linux' });
    const a = await resolver.resolveApp(proc(path.join(root, 'a', 'llm-tool'), ['llm-tool']));
    const b = await resolver.resolveApp(proc(path.join(root, 'b', 'llm-tool'), ['llm-tool']));
    const other = await resolver.resolveApp(proc(path.join(root, 'b', 'other-tool'), ['other-tool']));
    expect(a).toMatchObject({ displayName: 'llm-tool', kind: 'unknown', matchedBy: 'executable-hash' });
    expect(a.appId).toMatch(/^exe:[0-9a-f]{16}$/);
    expect(b.appId).toBe(a.appId);
    expect(other.appId).not.toBe(a.appId);
  });

  it('fall back to a hash of the home-normalised path when the file cannot be read', async () => {
    const resolver = new AppResolver({ platform: 'linux' });
    const alice = await resolver.resolveApp(proc('/home/alice/.cache/tools/gone-tool', ['gone-tool']));
    const bob = await resolver.resolveApp(proc('/home/bob/.cache/tools/gone-tool', ['gone-tool']));
    expect(alice).toMatchObject({ matchedBy: 'executable-path', subject: '~/.cache/tools/gone-tool', displayName: 'gone-tool' });
    expect(alice.appId).toMatch(/^exe:path:[0-9a-f]{16}$/);
    expect(bob.appId).toBe(alice.appId);
    expect(appIdSchema.safeParse(alice.appId).success).toBe(true);
  });

  it('are `unknown` when the OS gave no executable at all', async () => {
    expect(await new AppResolver({ platform: 'linux' }).resolveApp(proc(undefined, ['x']))).toMatchObject({ appId: 'unknown', matchedBy: 'none' });
  });

  it('keep control characters out of display names', async () => {
    const app = await new AppResolver({ platform: 'linux' }).resolveApp(proc('/nonexistent/evil\u001b[2Jtool', ['x']));
    expect(app.displayName).toBe('evil?[2Jtool');
  });
});
