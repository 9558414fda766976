// Builds the native addon (agent/native/sockdiag) for one target, here on Linux, with that target's
// C compiler against the embedded Node's Node-API headers: gcc or Debian's aarch64-linux-gnu-gcc for
// Linux (sockdiag.c: sock_diag and SO_PEERCRED), Debian's x86_64-w64-mingw32-gcc for win-x64
// (peercred_win.c with host_api_win.c: the TCP table's owner and its token, spawning a process as a
// user). One compiler call, no node-gyp; the flags keep the output byte-identical between builds (no
// build paths, no timestamps, a fixed image base, stripped). macOS and win-arm64 have no compiler
// in Debian: a native runner compiles their addon (nativeAddonCommand, .github/workflows/native.yml)
// and hands the file to the build (`npm run package -- --addon <target>=<file>`).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TARGET_NAMES, type AddonRecipe, type TargetName } from './targets.ts';

const NATIVE_DIR = fileURLToPath(new URL('../../../agent/native/sockdiag/', import.meta.url));

/** The C sources of each addon kind. */
export const ADDON_SOURCES: Readonly<Record<AddonRecipe['kind'], readonly string[]>> = {
  linux: ['sockdiag.c', 'fsat_posix.c'],
  windows: ['peercred_win.c', 'host_api_win.c'],
  darwin: ['peercred_darwin.c', 'fsat_posix.c'],
};

/**
 * DLLs the Windows addon may import: KnownDLLs (always taken from System32) and IPHLPAPI, which
 * node.exe has loaded before any addon. Anything else would be looked for in the addon's own folder
 * first (test/installer/windows-addon.test.ts reads the import table).
 */
export const WINDOWS_ADDON_IMPORTS = ['ADVAPI32.dll', 'IPHLPAPI.DLL', 'KERNEL32.dll', 'msvcrt.dll', 'WS2_32.dll'] as const;

/** The compiler's command line; pure so the tests can read it. */
export function addonCompileArgs(kind: AddonRecipe['kind'], includeDir: string, output: string): string[] {
  const sources = ADDON_SOURCES[kind].map((f) => path.join(NATIVE_DIR, f));
  const common = ['-O2', '-Wall', '-Wextra', '-Werror', `-I${includeDir}`, `-ffile-prefix-map=${NATIVE_DIR.replace(/\/$/, '')}=.`];
  switch (kind) {
    case 'linux':
      // Node-API only: the addon loads in any Node of the same Node-API version.
      return ['-shared', '-fPIC', ...common, '-fvisibility=hidden', '-s', '-Wl,--build-id=none', '-o', output, ...sources];
    case 'windows':
      return [
        '-shared', ...common, '-D_WIN32_WINNT=0x0A00', '-s', '-static-libgcc',
        // No timestamp, and an image base that does not hash the output path: the same bytes each build.
        '-Wl,--no-insert-timestamp', '-Wl,--disable-auto-image-base',
        '-o', output, ...sources, '-lws2_32', '-liphlpapi', '-ladvapi32',
      ];
    case 'darwin':
      // clang on a Mac: the napi_* symbols are the host executable's, bound when Node loads the addon.
      return ['-bundle', '-undefined', 'dynamic_lookup', ...common.filter((a) => !a.startsWith('-ffile-prefix-map')), '-o', output, ...sources];
  }
}

export function buildAddon(recipe: AddonRecipe, includeDir: string, output: string): string {
  try {
    execFileSync(recipe.compiler, addonCompileArgs(recipe.kind, includeDir, output), { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '');
    throw new Error(`building the ${recipe.kind} addon with ${recipe.compiler} failed (is the compiler installed? Debian: gcc, gcc-aarch64-linux-gnu, gcc-mingw-w64-x86-64):\n${stderr || (err as Error).message}`, { cause: err });
  }
  return output;
}

/** `--addon <target>=<file>` values. */
export function parseAddons(values: readonly string[] | undefined): Partial<Record<TargetName, string>> {
  const addons: Partial<Record<TargetName, string>> = {};
  for (const value of values ?? []) {
    const at = value.indexOf('=');
    const name = value.slice(0, Math.max(at, 0));
    if (at < 1 || at === value.length - 1) throw new Error(`--addon ${value}: expected <target>=<file>, for example darwin-arm64=sockdiag.node`);
    if (!(TARGET_NAMES as readonly string[]).includes(name)) throw new Error(`--addon ${value}: unknown target ${name}; the targets are ${TARGET_NAMES.join(', ')}`);
    addons[name as TargetName] = value.slice(at + 1);
  }
  return addons;
}
