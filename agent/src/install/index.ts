// The install room: `heimdall install` / `heimdall uninstall`. One plan per OS (pure, from facts),
// one executor that records every change so uninstall takes back exactly what install did.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { CONFIG_KEYS, parseManagedJson } from '../config/index.ts';
import { permittedDomains } from '../forward/index.ts';
import { silentLogger } from '../lib/logger.ts';
import { ensurePrivateDir } from '../lib/private-fs.ts';
import { PLATFORM_PATHS, type SupportedPlatform } from '../lib/platform.ts';
import { CA_CERT_FILE_NAME, loadOrCreateLocalCa } from '../tls/index.ts';
import { gatherDarwinFacts, planDarwin } from './darwin.ts';
import { proxyVariables } from './environment.ts';
import { linuxSystemFacts, planLinux } from './linux.ts';
import { applyPlan, RECORD_FILE_NAME, undoRecord, type CommandRunner, type ExecuteContext, type InstallRecord } from './record.ts';
import { gatherWindowsFacts, planWindows, windowsProxyFacts } from './windows.ts';
import type { InstallPlan } from './types.ts';

export type { Change, CommandChange, FileChange, InstallPlan, InstallPlatform, ProxyFacts, Refresh, SymlinkChange } from './types.ts';
export { applyPlan, undoRecord, readInstallRecord, RECORD_FILE_NAME, type CommandRunner, type CommandResult, type ExecuteContext, type InstallRecord } from './record.ts';
export { planLinux, linuxSystemFacts, linuxProxyFacts, findNssDatabases, LINUX_TRUST_STORES, NSS_NICKNAME, type LinuxFacts, type LinuxTrustStore } from './linux.ts';
export { planDarwin, parseNetworkServices, parseAutoProxyUrl, parseScutilPacUrl, type DarwinFacts, type NetworkServiceProxy } from './darwin.ts';
export { planWindows, parseRegValue, parseWinhttpDirect, MACHINE_ENVIRONMENT_KEY, INTERNET_SETTINGS_KEY, RUN_KEY, type WindowsFacts } from './windows.ts';
export { shellProfile, environmentD, proxyVariables } from './environment.ts';
export * from './service-definitions.ts';

export interface InstallOptions {
  /** Act on this directory tree instead of the running system (Linux; tests and image builders). */
  root?: string;
  platform?: SupportedPlatform;
  run?: CommandRunner;
  report: (line: string) => void;
  /** false: do not start the service (a package that starts it itself, with its own retries). */
  start?: boolean;
  /** Build the plan only: create nothing (no state dir, no CA). */
  dryRun?: boolean;
  /** RSA size of a new CA (tests use a smaller key to stay fast). */
  caKeyBits?: number;
}

/** Runs a program without a shell; a missing program answers 127. */
export const spawnRunner: CommandRunner = (argv) =>
  new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { encoding: 'utf8', maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : (err as NodeJS.ErrnoException).code === 'ENOENT' ? 127 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
      resolve({ code, stdout, stderr });
    });
  });

function under(root: string, target: string): string {
  return root === '/' ? target : path.join(root, target);
}

interface Context {
  platform: SupportedPlatform;
  root: string;
  stateDir: string;
  ctx: ExecuteContext;
}

function contextFor(options: InstallOptions): Context {
  const platform = options.platform ?? (process.platform as SupportedPlatform);
  const root = path.resolve(options.root ?? '/');
  if (root !== '/' && platform !== 'linux') throw new Error('--root works on Linux only (macOS and Windows install onto the running system)');
  const stateDir = under(root, PLATFORM_PATHS[platform].stateDir);
  const live = root === '/';
  const serviceManager = platform !== 'linux' || (live && existsSync('/run/systemd/system'));
  return { platform, root, stateDir, ctx: { recordFile: path.join(stateDir, RECORD_FILE_NAME), live, serviceManager, run: options.run ?? spawnRunner, report: options.report, ...(options.start === false ? { start: false } : {}) } };
}

interface ManagedSettings {
  proxyPort: number;
  pacPort: number;
  caMode: 'local' | 'gateway';
  organization: string | undefined;
}

/** The few managed settings install needs; the daemon validates the whole file, install only reads these. */
async function readManagedSettings(file: string): Promise<ManagedSettings> {
  let values: Record<string, unknown> = {};
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text !== undefined) {
    const read = parseManagedJson(text);
    if (read.status === 'unreadable') throw new Error(`${file}: ${read.reason}. Fix the file, then run install again`);
    if (read.status === 'ok') values = read.values;
  }
  const port = (v: unknown, fallback: number): number => (Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536 ? (v as number) : fallback);
  const proxyPort = port(values['proxy_port'], CONFIG_KEYS.proxy_port.default as number);
  return {
    proxyPort,
    pacPort: port(values['pac_port'], proxyPort),
    caMode: values['ca_mode'] === 'gateway' ? 'gateway' : 'local',
    organization: typeof values['organization'] === 'string' ? values['organization'] : undefined,
  };
}

/** Builds the plan for this machine (gathering its facts); also what `heimdall install --dry-run` prints. */
export async function buildInstallPlan(options: InstallOptions): Promise<{ plan: InstallPlan; context: Context }> {
  const context = contextFor(options);
  const { platform, root, stateDir, ctx } = context;
  const settings = await readManagedSettings(under(root, PLATFORM_PATHS[platform].managedConfigFile));
  const proxyUrl = `http://127.0.0.1:${settings.proxyPort}`;
  const pacUrl = `http://127.0.0.1:${settings.pacPort}/proxy.pac`;
  const caFile = path.join(stateDir, CA_CERT_FILE_NAME);
  let caPem: string | undefined;
  if (options.dryRun) {
    // A dry run changes nothing: the CA it would create is shown as a placeholder.
    caPem = settings.caMode === 'local' ? await readFile(caFile, 'utf8').catch(() => '(the CA install creates)\n') : undefined;
  } else if (settings.caMode === 'local') {
    await mkdir(path.dirname(stateDir), { recursive: true, mode: 0o755 });
    await ensurePrivateDir(stateDir);
    // The CA exists before the daemon first starts, so it is trusted before any app is sent to the proxy.
    caPem = (await loadOrCreateLocalCa({ stateDir, permittedDomains: permittedDomains(), organization: settings.organization, logger: silentLogger(), keyBits: options.caKeyBits })).certPem;
  }
  const caSha1 = caPem?.includes('BEGIN CERTIFICATE') ? new X509Certificate(caPem).fingerprint.replace(/:/g, '') : undefined;
  const run = ctx.run;
  const exists = (p: string): boolean => existsSync(under(root, p));
  const plans: Record<SupportedPlatform, () => Promise<InstallPlan>> = {
    linux: () => Promise.resolve(planLinux({ ...linuxSystemFacts(root), caPem, caFile, proxyUrl, pacUrl })),
    darwin: async () => planDarwin(await gatherDarwinFacts(run, {
      caPem, caFile, caSha1, proxyUrl, pacUrl,
      packagedDaemon: exists('/Library/LaunchDaemons/io.heimdall.agent.plist'),
      packagedAgent: exists('/Library/LaunchAgents/io.heimdall.agent.helper.plist'),
      zshenv: await readFile('/etc/zshenv', 'utf8').catch(() => null),
    })),
    win32: async () => planWindows(await gatherWindowsFacts(run, { caPem, caFile, caSha1, proxyUrl, pacUrl }, proxyVariables(windowsProxyFacts({ proxyUrl, pacUrl })).map(([k]) => k))),
  };
  return { plan: await plans[platform](), context };
}

export async function installAgent(options: InstallOptions): Promise<InstallRecord> {
  const { plan, context } = await buildInstallPlan(options);
  return applyPlan(plan, context.ctx);
}

/** Takes back what install recorded; `purge` also deletes the state dir (CA key, device id, database). */
export async function uninstallAgent(options: InstallOptions & { purge?: boolean }): Promise<void> {
  const { stateDir, ctx } = contextFor(options);
  if (!(await undoRecord(ctx))) ctx.report(`nothing to undo: no install record at ${ctx.recordFile}`);
  if (options.purge) {
    await rm(stateDir, { recursive: true, force: true });
    ctx.report(`removed ${stateDir} (CA key, device id, database)`);
  }
}
