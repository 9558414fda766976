// `npm run demo`: runs the agent daemon unprivileged in a temporary state directory and tells a
// person what to try. Ctrl-C stops everything cleanly. (The reference gateway joins it once built.)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';

const root = path.resolve(import.meta.dirname, '..');
const stateDir = mkdtempSync(path.join(tmpdir(), 'heimdall-demo-'));
const heimdall = path.join(root, 'bin/heimdall.js');

const daemon = spawn(process.execPath, [heimdall, 'run', '--state-dir', stateDir, '--config', path.join(stateDir, 'config.json'), '--log-level', 'warn'], {
  stdio: ['ignore', 'inherit', 'inherit'],
});

const show = `node ${path.relative(process.cwd(), heimdall)}`;
console.log(`Heimdall demo: the agent daemon is running unprivileged (state in ${stateDir}).

Try, in another terminal:
  ${show} status --state-dir ${stateDir}
  ${show} status --json --state-dir ${stateDir}
  echo '{"gateway_url": "https://gateway.example", "organization": "Demo"}' > ${path.join(stateDir, 'config.json')}
  ${show} status --state-dir ${stateDir}     # the managed file is applied live

Press Ctrl-C to stop.`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    daemon.kill('SIGTERM');
  });
}
daemon.on('exit', (code) => process.exit(code ?? 0));
