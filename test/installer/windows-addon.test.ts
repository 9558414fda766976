// The win-x64 native addon as the executables' build makes it on this Linux host with Debian's
// mingw-w64 cross compiler (installer/src/executables/addon.ts): a PE32+ DLL for x86-64 that exports
// Node-API's module entry and imports nothing from node.exe (the single-file executable is node.exe
// renamed; host_api_win.c takes napi_* from the running executable), and only DLLs that cannot be
// planted beside it (KnownDLLs and one node.exe has loaded). The same bytes each build.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addonCompileArgs, buildAddon, parseAddons, TARGETS, WINDOWS_ADDON_IMPORTS } from '../../installer/src/index.ts';

const INCLUDE = path.join(path.dirname(process.execPath), '..', 'include', 'node');
let dir: string;
let addon: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-winaddon-'));
  fs.mkdirSync(path.join(dir, 'a'));
  fs.mkdirSync(path.join(dir, 'b'));
  addon = buildAddon(TARGETS['win-x64'].addon, INCLUDE, path.join(dir, 'a', 'sockdiag.node'));
}, 120_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function objdump(file: string): string {
  return execFileSync('x86_64-w64-mingw32-objdump', ['-p', file], { encoding: 'utf8' });
}

describe('the Windows x64 addon, cross-compiled here', () => {
  it('is a PE32+ DLL for x86-64', () => {
    expect(execFileSync('file', ['-b', addon], { encoding: 'utf8' })).toMatch(/^PE32\+ executable \(DLL\) .*x86-64.*MS Windows/);
  });

  it('exports the Node-API module entry and nothing of its own napi_* forwarders', () => {
    const dump = objdump(addon);
    const start = dump.indexOf('[Ordinal/Name Pointer] Table\n') + '[Ordinal/Name Pointer] Table\n'.length;
    const exports = dump.slice(start, dump.indexOf('\n\n', start));
    expect([...exports.matchAll(/\]\s+(\S+)$/gm)].map((m) => m[1])).toEqual(['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
  });

  it('imports no node.exe and only DLLs that are never looked for beside it', () => {
    const dump = objdump(addon);
    const imported = [...dump.matchAll(/DLL Name: (\S+)/g)].map((m) => m[1]).sort();
    expect(imported).toEqual([...WINDOWS_ADDON_IMPORTS].sort());
    expect(imported.map((d) => d!.toLowerCase())).not.toContain('node.exe');
    // The functions the daemon needs are really in it (their Windows imports).
    for (const call of ['GetExtendedTcpTable', 'OpenProcessToken', 'GetTokenInformation', 'CreateProcessAsUserW', 'UpdateProcThreadAttribute']) {
      expect(dump, call).toContain(call);
    }
    // wtsapi32 is loaded from System32 by name at run time, not imported.
    expect(fs.readFileSync(addon).includes(Buffer.from('wtsapi32.dll', 'utf16le'))).toBe(true);
  });

  it('gives the same bytes from the same sources, whatever the output folder', () => {
    const again = buildAddon(TARGETS['win-x64'].addon, INCLUDE, path.join(dir, 'b', 'sockdiag.node'));
    expect(fs.readFileSync(again).equals(fs.readFileSync(addon))).toBe(true);
    expect(addonCompileArgs('windows', '/inc', '/out.node')).toEqual(expect.arrayContaining(['-Wl,--no-insert-timestamp', '-Wl,--disable-auto-image-base', '-Werror']));
  });

  it('takes addons compiled on native runners as --addon <target>=<file>, and says what is wrong with a bad one', () => {
    expect(parseAddons(['darwin-arm64=out/sockdiag.node', 'win-arm64=C:\\a=b.node'])).toEqual({ 'darwin-arm64': 'out/sockdiag.node', 'win-arm64': 'C:\\a=b.node' });
    expect(() => parseAddons(['darwin-arm64'])).toThrow('--addon darwin-arm64: expected <target>=<file>');
    expect(() => parseAddons(['beos-x86=a.node'])).toThrow(/unknown target beos-x86/);
  });
});
