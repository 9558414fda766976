// Benchmark: what `heimdall exec -- CMD` and `heimdall env` add to a command, as whole processes (the
// bundle run by node against a running daemon), in alternating runs with `true` and a bare
// `node -e 0`, so a drift of the machine hits all of them alike. Run alone with
// `node test/bench/launcher.ts`; the bench runner calls benchLauncher().
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleAgent } from '../../scripts/bundle.ts';
import { freePort, startProcess } from '../helpers/process.ts';

export interface LauncherBenchResult {
  runs: number;
  trueMs: number[];
  bareNodeMs: number[];
  execTrueMs: number[];
  envMs: number[];
}

function timeRun(args: readonly string[]): number {
  const t0 = performance.now();
  const r = spawnSync(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.toString().slice(0, 300)}`);
  return ms;
}

export async function benchLauncher(runs = 30): Promise<LauncherBenchResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'heimdall-bench-launcher-'));
  const stateDir = path.join(dir, 'state');
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ gateway_url: 'http://127.0.0.1:9', organization: 'Acme' }));
  const bundle = await bundleAgent(path.join(dir, 'dist', 'heimdall.mjs'));
  const daemon = startProcess(process.execPath, [bundle, 'run', '--state-dir', stateDir, '--config', config, '--proxy-port', String(await freePort())]);
  try {
    await daemon.waitForLine((l) => l.includes('"heimdall daemon started"'), 60_000);
    const commands = [
      ['/bin/true'],
      [process.execPath, '-e', '0'],
      [process.execPath, bundle, 'exec', '--state-dir', stateDir, '--', '/bin/true'],
      [process.execPath, bundle, 'env', '--state-dir', stateDir],
    ];
    const times: number[][] = commands.map(() => []);
    for (let r = -2; r < runs; r++) {
      commands.forEach((c, i) => {
        const ms = timeRun(c);
        if (r >= 0) times[i]!.push(ms);
      });
    }
    const [trueMs = [], bareNodeMs = [], execTrueMs = [], envMs = []] = times;
    return { runs, trueMs, bareNodeMs, execTrueMs, envMs };
  } finally {
    daemon.child.kill('SIGTERM');
    await daemon.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await benchLauncher();
  const med = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1]!;
  console.log(`true ${med(r.trueMs).toFixed(1)} ms, node -e 0 ${med(r.bareNodeMs).toFixed(1)} ms, exec -- true ${med(r.execTrueMs).toFixed(1)} ms, env ${med(r.envMs).toFixed(1)} ms`);
}
