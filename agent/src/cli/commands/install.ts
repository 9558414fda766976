// `heimdall install` / `heimdall uninstall`: what the packages run, usable by hand as root.
import type { Command } from 'commander';
import { buildInstallPlan, installAgent, uninstallAgent } from '../../install/index.ts';

interface InstallFlags {
  root?: string;
  dryRun?: boolean;
  start?: boolean;
  purge?: boolean;
}

const report = (line: string): void => console.log(line);

export function registerInstall(program: Command): void {
  program
    .command('install')
    .description('Register and start the service, trust the CA, point apps at the proxy (run as root; the packages run it)')
    .option('--root <dir>', 'act on this directory tree instead of the running system (Linux; image builds and tests)')
    .option('--dry-run', 'print the changes without making them')
    .option('--no-start', 'do not start the service (the macOS package starts it with its own retries)')
    .addHelpText('after', '\nEvery change is recorded in the state dir; `heimdall uninstall` takes back exactly those.\n\nExamples:\n  sudo heimdall install\n  sudo heimdall install --dry-run\n  heimdall install --root /tmp/image-root\n')
    .action(async (opts: InstallFlags) => {
      const options = { ...(opts.root ? { root: opts.root } : {}), ...(opts.start === false ? { start: false } : {}), report };
      if (opts.dryRun) {
        const { plan } = await buildInstallPlan({ ...options, dryRun: true });
        for (const c of plan.changes) console.log(c.kind === 'command' ? `run ${c.run.join(' ')}  # ${c.why}` : `${c.kind} ${c.path}  # ${c.why}`);
        for (const r of plan.refreshes) console.log(`run ${r.run.join(' ')}  # ${r.why}`);
        for (const s of plan.services) console.log(`run ${s.run.join(' ')}  # ${s.why}`);
        for (const n of plan.notes) console.log(`note: ${n}`);
        return;
      }
      await installAgent(options);
    });
  program
    .command('uninstall')
    .description('Take back everything `heimdall install` changed (run as root; the packages run it)')
    .option('--root <dir>', 'act on this directory tree instead of the running system (Linux)')
    .option('--purge', 'also delete the state dir: CA key, device id, database')
    .addHelpText('after', '\nExamples:\n  sudo heimdall uninstall\n  sudo heimdall uninstall --purge\n')
    .action(async (opts: InstallFlags) => {
      await uninstallAgent({ ...(opts.root ? { root: opts.root } : {}), ...(opts.purge ? { purge: true } : {}), report });
    });
}
