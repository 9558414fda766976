// Node's single-executable-application steps for one target: the preparation blob (the bundle and
// its assets, written by a Node of exactly the embedded release), then postject writes the blob into
// a copy of the target's Node binary and flips the fuse that makes Node run it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Target } from './targets.ts';

// postject's own command line, run as a child: its WebAssembly core prints harmless LIEF warnings
// ("Can't find string offset for section name") that are kept out of the build's output unless it fails.
const POSTJECT_CLI = createRequire(import.meta.url).resolve('postject/dist/cli.js');

/** Runs a build step with its output captured; on failure the error carries that output. */
export function quietly(command: string, args: string[], what: string, cwd?: string): void {
  try {
    execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 2 ** 20, ...(cwd ? { cwd } : {}) });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer; message: string };
    throw new Error(`${what} failed: ${e.message}\n${String(e.stdout ?? '')}${String(e.stderr ?? '')}`, { cause: err });
  }
}

/** The fuse string Node looks for (the same in every release with SEA support). */
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export interface SeaConfig {
  main: string;
  output: string;
  disableExperimentalSEAWarning: true;
  // A snapshot and a code cache are specific to the platform that writes them; the blob is written
  // on this Linux host for all six targets, so neither is used.
  useSnapshot: false;
  useCodeCache: false;
  assets?: Record<string, string>;
}

/** The sea-config.json for one target (paths relative to the build folder); pure so the tests can read it. */
export function seaConfig(main: string, output: string, assets: Record<string, string>): SeaConfig {
  return {
    main, output, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false,
    ...(Object.keys(assets).length > 0 ? { assets } : {}),
  };
}

/**
 * Writes the preparation blob with `hostNode` (the embedded release, runnable on this machine) in
 * `dir`, where the config's paths are relative: the blob records the main script's path as given,
 * and a build folder's absolute path would make two builds of the same input differ.
 */
export function writeSeaBlob(hostNode: string, config: SeaConfig, dir: string): string {
  fs.writeFileSync(path.join(dir, 'sea-config.json'), JSON.stringify(config, null, 2));
  quietly(hostNode, ['--experimental-sea-config', 'sea-config.json'], `writing the SEA blob with ${hostNode}`, dir);
  return path.join(dir, config.output);
}

/** postject's arguments for one target; pure so the tests can read them. */
export function postjectArgs(target: Target, executable: string, blob: string): string[] {
  return [executable, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE, ...(target.format === 'macho' ? ['--macho-segment-name', 'NODE_SEA'] : []), '--overwrite'];
}

/** Copies the target's Node binary to `output` and injects the blob. */
export function injectSeaBlob(target: Target, nodeBinary: string, blob: string, output: string): void {
  fs.copyFileSync(nodeBinary, output);
  fs.chmodSync(output, 0o755);
  quietly(process.execPath, [POSTJECT_CLI, ...postjectArgs(target, output, blob)], `injecting the SEA blob into ${output} with postject`);
}
