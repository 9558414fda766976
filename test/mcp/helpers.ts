// Builds a real McpGovernor (real SQLite store, real files, real watcher) around a temporary home.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { McpGovernor, MCP_MIGRATIONS, type McpAuditEvent, type McpDecision, type McpGovernorOptions, type McpInventory, type OsUser } from '../../agent/src/mcp/index.ts';
import { Store } from '../../agent/src/store/index.ts';
import { ManualClock } from '../../lib/index.ts';

export interface Rig {
  dir: string;
  home: string;
  user: OsUser;
  managedRoot: string;
  store: Store;
  governor: McpGovernor;
  reports: McpInventory[];
  audits: McpAuditEvent[];
  /** fingerprint -> verdict; anything absent is allowed. */
  decisions: Map<string, McpDecision['verdict']>;
  waitForReport: (pred: (inv: McpInventory) => boolean, timeoutMs?: number) => Promise<McpInventory>;
  /** The governor's clock when the rig was made with `manualClock: true`. */
  clock: ManualClock | undefined;
  /**
   * Manual clock only: waits until a file event has reached the governor (a debounce timer is
   * pending), moves the clock past the debounce, and waits for the re-read, enforcement and report.
   */
  flush: () => Promise<void>;
  close: () => Promise<void>;
}

/** Polls for a condition that will become true (an OS file event arriving); never used to wait for nothing. */
export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function writeFile(file: string, text: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

export function makeRig(options: Partial<McpGovernorOptions> & { home?: string; managedRoot?: string; manualClock?: boolean } = {}): Promise<Rig> {
  const { manualClock, ...governorOptions } = options;
  const clock = manualClock ? new ManualClock() : undefined;
  const dir = tempDir('heimdall-mcp-');
  // Homes of other users are walked by a helper running as that user: it must be able to reach them.
  fs.chmodSync(dir, 0o755);
  const home = options.home ?? path.join(dir, 'home');
  fs.mkdirSync(home, { recursive: true });
  const managedRoot = options.managedRoot ?? path.join(dir, 'managed');
  fs.mkdirSync(managedRoot, { recursive: true });
  const info = os.userInfo();
  const user: OsUser = { name: info.username, uid: info.uid, gid: info.gid, home };
  const store = new Store({ stateDir: path.join(dir, 'state'), logger: silentLogger(), migrations: [MCP_MIGRATIONS] });
  const reports: McpInventory[] = [];
  const audits: McpAuditEvent[] = [];
  const decisions = new Map<string, McpDecision['verdict']>();
  const waiters: { pred: (inv: McpInventory) => boolean; resolve: (inv: McpInventory) => void }[] = [];
  const governor = new McpGovernor({
    store,
    logger: silentLogger(),
    decide: (fp) => {
      const verdict = decisions.get(fp) ?? 'allow';
      return { verdict, status: verdict === 'block' ? 'denied' : 'allowed' };
    },
    report: (inv) => {
      reports.push(inv);
      for (const w of [...waiters]) {
        if (w.pred(inv)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(inv);
        }
      }
    },
    audit: (e) => audits.push(e),
    mode: 'current-user',
    users: [user],
    managedRoot,
    watch: false,
    rescanIntervalMs: 0,
    ...(clock ? { clock } : {}),
    ...governorOptions,
  });
  const debounceMs = options.debounceMs ?? 150;
  return Promise.resolve({
    dir,
    home,
    user,
    managedRoot,
    store,
    governor,
    reports,
    audits,
    decisions,
    waitForReport: (pred, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const last = reports[reports.length - 1];
        if (last && pred(last)) return resolve(last);
        const timer = setTimeout(() => reject(new Error('no matching inventory report')), timeoutMs);
        waiters.push({ pred, resolve: (inv) => (clearTimeout(timer), resolve(inv)) });
      }),
    clock,
    flush: async () => {
      if (!clock) throw new Error('flush() needs a rig made with manualClock: true');
      await until(() => clock.pendingTimers > 0, 'a file event reaches the MCP governor');
      clock.advance(debounceMs);
      await governor.idle();
    },
    close: async () => {
      await governor.stop();
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  });
}
