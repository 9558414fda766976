// The repository's one native addon (agent/native/sockdiag: the sock_diag socket lookup, the
// peer-credential calls and glibc's malloc calls), loaded once per process for every room that uses it: the copy embedded in
// the single-file executable first, else the one `npm ci` built. Loading it once matters: the
// embedded copy is written out and dlopen'd on each load.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { loadEmbeddedAddon } from './embedded-addon.ts';

// Where `npm ci` builds the addon, seen from this file (agent/src/lib/), from the bundle's entry
// (dist/heimdall.mjs) and from its chunks (dist/heimdall-chunks/, scripts/bundle.ts).
const BUILDS = [
  '../../native/sockdiag/build/Release/sockdiag.node',
  '../agent/native/sockdiag/build/Release/sockdiag.node',
  '../../agent/native/sockdiag/build/Release/sockdiag.node',
];

let loaded: { exports: Record<string, unknown> | undefined } | undefined;

function load(): Record<string, unknown> | undefined {
  try {
    const embedded = loadEmbeddedAddon('sockdiag.node') as Record<string, unknown> | undefined;
    if (embedded) return embedded;
  } catch {
    // embedded but not loadable here (a noexec temporary directory): try the built one
  }
  const requireFrom = createRequire(import.meta.url);
  for (const relative of BUILDS) {
    try {
      return requireFrom(fileURLToPath(new URL(relative, import.meta.url))) as Record<string, unknown>;
    } catch {
      // not built at this path
    }
  }
  return undefined;
}

/** The addon's exports, or undefined when neither copy exists or loads (no compiler at install). */
export function loadSockdiagAddon(): Record<string, unknown> | undefined {
  loaded ??= { exports: load() };
  return loaded.exports;
}

/** What glibc's malloc holds, in bytes (mallinfo2, summed over every arena). */
export interface MallocInfo {
  /** Obtained from the kernel for the arenas (sbrk and their mmap'd heaps). */
  arenaBytes: number;
  /** Large blocks mmap'd one by one; freeing one unmaps it at once. */
  mmapBytes: number;
  /** Allocated and not yet freed. */
  inUseBytes: number;
  /** Freed and kept by malloc: counted in RSS until reused or trimmed. */
  freeBytes: number;
  /** The free top of the main heap, which a plain free() would also return. */
  releasableBytes: number;
}

/** glibc's malloc calls in the addon (Linux builds against glibc only; sockdiag.c). */
export interface MallocAddon {
  /** malloc_trim(0): gives the pages of freed memory back to the kernel; true when there were some. */
  mallocTrim(): boolean;
  /** mallinfo2() (glibc 2.33+), for measuring. */
  mallocInfo?(): MallocInfo;
}

/** The addon's malloc calls; undefined when it is not built here or its C library has none (musl, macOS, Windows). */
export function loadMallocAddon(): MallocAddon | undefined {
  const addon = loadSockdiagAddon() as Partial<MallocAddon> | undefined;
  return typeof addon?.mallocTrim === 'function' ? (addon as MallocAddon) : undefined;
}
