// `buildExecutables()`: the agent as one single-file executable per target in dist/executables/
// (heimdall-<target>[.exe]), with a SHA256SUMS file, from one bundle and the official Node binaries
// on the npm registry. Same sources and commit give the same bytes. It says which targets it made
// and why any was not made.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleForExecutable, type BuildStamp } from './bundle.ts';
import { extractNodeBinary } from './node-binaries.ts';
import { injectSeaBlob, quietly, seaConfig, writeSeaBlob } from './sea.ts';
import { osslsigncodeRemoveArgs } from './sign-windows.ts';
import { buildAddon } from './addon.ts';
import { hostTarget, NODE_VERSION, TARGET_NAMES, TARGETS, type TargetName } from './targets.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export const CHECKSUMS_FILE = 'SHA256SUMS';

/** The bundle's name inside the blob (recorded there: a fixed relative name keeps builds identical). */
const MAIN_SCRIPT = 'heimdall.cjs';

/** The SEA asset name of the native addon (agent/src/lib/sockdiag-addon.ts loads it by this name). */
const ADDON_ASSET = 'sockdiag.node';

export interface BuildExecutablesOptions {
  /** Default: all six. */
  targets?: readonly TargetName[];
  /** Default: dist/executables. */
  outDir?: string;
  /** Where the npm tarballs of Node are kept between builds. Default: .cache/node-targets. */
  cacheDir?: string;
  /** Scratch space, emptied first. Default: .tmp/executables-build. */
  workDir?: string;
  /** Overrides the stamp read from package.json and git (tests). */
  stamp?: BuildStamp;
  log?: (line: string) => void;
  /**
   * Addons compiled elsewhere, per target (a native runner's, for the targets Debian has no compiler
   * for): embedded as they are. A target whose recipe is `native-runner` and that is not named here
   * is built without an addon, and the build says so.
   */
  addons?: Partial<Record<TargetName, string>>;
}

export interface BuiltExecutable {
  target: TargetName;
  file: string;
  bytes: number;
  sha256: string;
  /** Native addons embedded as SEA assets. */
  assets: string[];
  /** Where the embedded addon came from, or why there is none (said in the build's output). */
  addon: { embedded: true; from: string } | { embedded: false; why: string };
}

export interface BuildExecutablesResult {
  stamp: BuildStamp;
  nodeVersion: string;
  built: BuiltExecutable[];
  notBuilt: { target: TargetName; reason: string }[];
  checksumsFile: string;
}

/** package.json's version and the git commit (with `-dirty` when the worktree has changes). */
export function readBuildStamp(root = ROOT): BuildStamp {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (dirty) commit += '-dirty';
  } catch {
    // not a git checkout (a source tarball): the version alone identifies it
  }
  return { version: pkg.version, commit };
}

function commandExists(command: string): boolean {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

export async function buildExecutables(options: BuildExecutablesOptions = {}): Promise<BuildExecutablesResult> {
  const targets = options.targets ?? TARGET_NAMES;
  const outDir = options.outDir ?? path.join(ROOT, 'dist/executables');
  const cacheDir = options.cacheDir ?? path.join(ROOT, '.cache/node-targets');
  const workDir = options.workDir ?? path.join(ROOT, '.tmp/executables-build');
  const log = options.log ?? ((line: string) => console.log(line));
  const stamp = options.stamp ?? readBuildStamp();

  const host = hostTarget();
  if (!host) throw new Error(`cannot build executables on ${process.platform}-${process.arch}: the SEA blob must be written by Node ${NODE_VERSION} running here, and the npm registry has it for ${TARGET_NAMES.join(', ')} only`);

  fs.rmSync(workDir, { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
  fs.mkdirSync(outDir, { recursive: true });

  const bundle = await bundleForExecutable(path.join(workDir, 'heimdall.cjs'), stamp);
  const hostBinary = extractNodeBinary(TARGETS[host], cacheDir, path.join(workDir, 'host'), { headers: true });
  const hostNode = hostBinary.node;
  log(`heimdall ${stamp.version} (${stamp.commit}) on Node ${NODE_VERSION}: building ${targets.join(', ')}`);

  const built: BuiltExecutable[] = [];
  const notBuilt: BuildExecutablesResult['notBuilt'] = [];
  for (const name of targets) {
    const target = TARGETS[name];
    const dir = path.join(workDir, name);
    fs.mkdirSync(dir, { recursive: true });
    const output = path.join(outDir, target.fileName);
    fs.rmSync(output, { force: true });
    const missing = [
      ...(target.addon.where === 'here' && !commandExists(target.addon.compiler) ? [`${target.addon.compiler} (it builds the embedded native addon)`] : []),
      ...(target.format === 'pe' && !commandExists('osslsigncode') ? ['osslsigncode (it removes node.exe\'s signature, which injection breaks)'] : []),
    ];
    if (missing.length > 0) {
      notBuilt.push({ target: name, reason: `not installed: ${missing.join(', ')}` });
      continue;
    }
    const node = extractNodeBinary(target, cacheDir, dir);
    if (target.format === 'pe') {
      const unsigned = path.join(dir, 'node-unsigned.exe');
      quietly('osslsigncode', osslsigncodeRemoveArgs(node.node, unsigned), `removing the signature of ${node.node}`);
      node.node = unsigned;
    }
    const assets: Record<string, string> = {};
    let addon: BuiltExecutable['addon'];
    const given = options.addons?.[name];
    if (given !== undefined) {
      fs.copyFileSync(given, path.join(dir, ADDON_ASSET));
      addon = { embedded: true, from: given };
    } else if (target.addon.where === 'here') {
      buildAddon(target.addon, hostBinary.includeDir, path.join(dir, ADDON_ASSET));
      addon = { embedded: true, from: `built here with ${target.addon.compiler}` };
    } else {
      addon = { embedded: false, why: `no ${target.addon.compiler} for ${name} on this host: compiled on a native runner (.github/workflows/executables.yml) and passed with --addon ${name}=<file>` };
    }
    if (addon.embedded) assets[ADDON_ASSET] = ADDON_ASSET;
    fs.copyFileSync(bundle, path.join(dir, MAIN_SCRIPT));
    const blob = writeSeaBlob(hostNode, seaConfig(MAIN_SCRIPT, 'sea-prep.blob', assets), dir);
    injectSeaBlob(target, node.node, blob, output);
    const result: BuiltExecutable = { target: name, file: output, bytes: fs.statSync(output).size, sha256: sha256(output), assets: Object.keys(assets), addon };
    built.push(result);
    log(`  made ${path.relative(process.cwd(), output)} (${(result.bytes / 2 ** 20).toFixed(1)} MiB${result.assets.length ? `, embeds ${result.assets.join(', ')}` : ''})`);
  }

  // SHA256SUMS lists every executable in the folder (those of an earlier run for other targets too),
  // in `sha256sum -c` format, sorted by name so the file itself is reproducible.
  const present = TARGET_NAMES.map((n) => TARGETS[n].fileName).filter((f) => fs.existsSync(path.join(outDir, f))).sort();
  const checksumsFile = path.join(outDir, CHECKSUMS_FILE);
  fs.writeFileSync(checksumsFile, present.map((f) => `${sha256(path.join(outDir, f))}  ${f}\n`).join(''));

  log(`made: ${built.map((b) => b.target).join(', ') || 'none'}`);
  for (const n of notBuilt) log(`NOT made: ${n.target}: ${n.reason}`);
  // Without its addon an executable runs, but cannot tell who calls its local API (identity-bound
  // routes refuse) nor, on Windows, do file work as a user: said plainly, target by target.
  for (const b of built) log(b.addon.embedded ? `addon in ${b.target}: ${b.addon.from}` : `NO addon in ${b.target}: ${b.addon.why}`);
  if (built.some((b) => b.target.startsWith('darwin-'))) {
    log('darwin executables carry Node\'s now-invalid signature: sign them on macOS before they run (installer/README.md, "Signing")');
  }
  return { stamp, nodeVersion: NODE_VERSION, built, notBuilt, checksumsFile };
}
