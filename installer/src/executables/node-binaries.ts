// The official Node binaries, from the npm registry only: `npm pack` of the pinned package version into
// a cache folder, the tarball checked against its pinned integrity, then bin/node (and, for Linux,
// the headers the native addons compile against) extracted.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { NODE_VERSION, type Target } from './targets.ts';

export interface NodeBinary {
  /** The Node executable of this target. */
  node: string;
  /** include/node of the same release (Node-API headers). */
  includeDir: string;
}

function integrityOf(file: string): string {
  return `sha512-${createHash('sha512').update(fs.readFileSync(file)).digest('base64')}`;
}

/** Downloads (once) and verifies the target's npm tarball; returns its path in `cacheDir`. */
export function fetchNodeTarball(target: Target, cacheDir: string): string {
  fs.mkdirSync(cacheDir, { recursive: true });
  const tarball = path.join(cacheDir, `${target.npmPackage}-${NODE_VERSION}.tgz`);
  if (!fs.existsSync(tarball)) {
    execFileSync('npm', ['pack', `${target.npmPackage}@${NODE_VERSION}`, '--pack-destination', cacheDir, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const actual = integrityOf(tarball);
  if (actual !== target.integrity) {
    throw new Error(
      `${tarball}: integrity ${actual} is not the pinned ${target.integrity} for ${target.npmPackage}@${NODE_VERSION} ` +
        '(installer/src/executables/targets.ts); delete the file to download it again, or update the pin if the registry changed it on purpose',
    );
  }
  return tarball;
}

/**
 * The target's Node binary, extracted under `workDir/<target>/`, and with `headers` its include/node
 * (only the Linux and macOS tarballs carry headers; Node-API's are the same for every OS of a release,
 * so every addon compiles against the host's).
 */
export function extractNodeBinary(target: Target, cacheDir: string, workDir: string, options: { headers?: boolean } = {}): NodeBinary {
  const tarball = fetchNodeTarball(target, cacheDir);
  const dir = path.join(workDir, `node-${target.name}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const wanted = [target.nodePath, ...(options.headers ? ['package/include/node'] : [])];
  execFileSync('tar', ['-xzf', tarball, '-C', dir, ...wanted], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { node: path.join(dir, target.nodePath), includeDir: path.join(dir, 'package/include/node') };
}
