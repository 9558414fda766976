// Builds the Linux sock_diag addon (agent/native/sockdiag) for one target with that target's C
// compiler (gcc, or Debian's aarch64-linux-gnu-gcc cross compiler) against the embedded Node's
// Node-API headers. One compiler call, no node-gyp: the addon is one C file, and the flags keep the
// output byte-identical between builds (no build paths, no timestamps, stripped).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../../../agent/native/sockdiag/sockdiag.c', import.meta.url));

/** The compiler's command line; pure so the tests can read it. */
export function sockdiagCompileArgs(includeDir: string, output: string): string[] {
  return [
    '-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror',
    '-fvisibility=hidden', '-s',
    // Node-API only: the addon loads in any Node of the same Node-API version, and
    // NAPI_MODULE_INIT needs no module name.
    `-I${includeDir}`,
    `-ffile-prefix-map=${path.dirname(SOURCE)}=.`,
    '-Wl,--build-id=none',
    '-o', output, SOURCE,
  ];
}

export function buildSockdiag(compiler: string, includeDir: string, output: string): string {
  try {
    execFileSync(compiler, sockdiagCompileArgs(includeDir, output), { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '');
    throw new Error(`building the sock_diag addon with ${compiler} failed (is the compiler installed? Debian: gcc, g++-aarch64-linux-gnu):\n${stderr || (err as Error).message}`, { cause: err });
  }
  return output;
}
