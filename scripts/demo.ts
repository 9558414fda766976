// `npm run demo`: the whole system on one machine with no internet. Starts the DEMO upstream (a
// stand-in for model providers), the reference gateway on an embedded SQLite in a temp data dir, and
// the agent daemon unprivileged; enrolls the agent with a demo virtual key; prints what to try.
// Ctrl-C (or SIGINT/SIGTERM to `npm run demo`) stops everything and deletes the demo's work folder,
// CA key included, unless it was started with `--keep`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDemoUpstream } from '../gateway/src/demo-upstream/index.ts';
import { EMPTY_CONFIG } from '../gateway/src/config.ts';
import { startGateway } from '../gateway/src/server.ts';
import { createLogger } from '../agent/src/lib/logger.ts';

const USAGE = 'usage: npm run demo [-- --keep]   (--keep: leave the work folder, keys included, for inspection)';
const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--keep');
if (unknown.length > 0) {
  console.error(`demo: unknown argument ${JSON.stringify(unknown[0])}\n${USAGE}`);
  process.exit(2);
}
const keepWork = args.includes('--keep');

const root = path.resolve(import.meta.dirname, '..');
const work = mkdtempSync(path.join(tmpdir(), 'heimdall-demo-'));
const gatewayDir = path.join(work, 'gateway');
const agentDir = path.join(work, 'agent');
const agentConfig = path.join(work, 'agent-config.json');
const heimdall = path.join(root, 'bin/heimdall.js');
const gatewayBin = path.join(root, 'bin/heimdall-gateway.js');
const logger = createLogger({ level: 'warn', name: 'heimdall-gateway' });

// What has started so far: a signal during start-up stops those parts and still deletes the keys.
const running: { upstream?: { close(): Promise<void> }; gateway?: { close(): Promise<void> }; agent?: ChildProcess } = {};
let stopping = false;
async function stop(code: number): Promise<never> {
  // Ctrl-C reaches npm, the shell and this process at once, and npm forwards it again: the repeats
  // arrive while stopping and must not cut the clean-up short.
  if (stopping) return new Promise<never>(() => {});
  stopping = true;
  const { agent } = running;
  if (agent && agent.exitCode === null && agent.signalCode === null) {
    // A daemon that ignores SIGTERM must not keep the demo (and its keys) alive.
    const force = setTimeout(() => agent.kill('SIGKILL'), 10_000);
    agent.kill('SIGTERM');
    await new Promise<void>((resolve) => agent.once('exit', () => resolve()));
    clearTimeout(force);
  }
  await running.gateway?.close();
  await running.upstream?.close();
  if (keepWork) console.error(`demo stopped; its work folder is kept: ${work}`);
  else {
    rmSync(work, { recursive: true, force: true });
    console.error(`demo stopped; deleted its work folder ${work}`);
  }
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0));

// The gateway reads provider keys from the environment (env.NAME references), never from its database.
const DEMO_KEYS = { openai: 'demo-openai-key', anthropic: 'demo-anthropic-key', genai: 'demo-genai-key' };
process.env['DEMO_OPENAI_KEY'] = DEMO_KEYS.openai;
process.env['DEMO_ANTHROPIC_KEY'] = DEMO_KEYS.anthropic;
process.env['DEMO_GENAI_KEY'] = DEMO_KEYS.genai;

const upstream = await startDemoUpstream({ keys: DEMO_KEYS });
running.upstream = upstream;
const gateway = await startGateway({
  dataDir: gatewayDir,
  host: '127.0.0.1',
  port: 0,
  logger,
  config: {
    ...EMPTY_CONFIG,
    supportUrl: 'https://help.demo.example/ai',
    source: 'the demo',
    inference: {
      providers: {
        openai: { base_url: upstream.url, api_key: 'env.DEMO_OPENAI_KEY' },
        anthropic: { base_url: upstream.url, api_key: 'env.DEMO_ANTHROPIC_KEY' },
        genai: { base_url: upstream.url, api_key: 'env.DEMO_GENAI_KEY' },
        chatgpt: { base_url: upstream.url },
      },
    },
  },
});
running.gateway = gateway;
const { key: virtualKey } = await gateway.control.createVirtualKey({ email: 'demo.user@demo.example', name: 'demo' });

writeFileSync(agentConfig, `${JSON.stringify({ gateway_url: gateway.url, organization: 'Demo Corp', support_url: 'https://help.demo.example/ai' }, null, 2)}\n`);
// Port 0 is not a proxy port a person can type; pick a free one in a high range.
const proxyPort = 17_420 + Math.floor(Math.random() * 500);
const agent: ChildProcess = spawn(process.execPath, [heimdall, 'run', '--state-dir', agentDir, '--config', agentConfig, '--proxy-port', String(proxyPort), '--log-level', 'warn'], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
running.agent = agent;
agent.on('exit', (code) => {
  if (stopping) return;
  // Ctrl-C reaches the daemon too (same process group), and it may finish before this process does.
  if (code === 0) return void stop(0);
  console.error(`the agent daemon exited (${code ?? 'signal'}); stopping the demo`);
  void stop(1);
});

async function runCli(args: string[], input?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [heimdall, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => resolve({ code, out }));
    child.stdin.end(input ?? '');
  });
}

// Wait for the daemon's local API, then sign the demo user in (the key goes over stdin, never argv).
let ready = false;
for (let i = 0; i < 100 && !ready; i++) {
  // Any answer but 3 (daemon not running) means the local API is up; until the login below, status
  // says "not signed in" (4).
  ready = (await runCli(['status', '--state-dir', agentDir])).code !== 3;
  if (!ready) await new Promise((r) => setTimeout(r, 200));
}
const login = await runCli(['login', '--virtual-key', '--state-dir', agentDir], virtualKey);
if (login.code !== 0) {
  console.error(`The demo could not sign the agent in:\n${login.out}`);
  await stop(1);
}

// The commands below run on the Node this demo runs on: on a machine whose own Node is older, that is
// the project's copy in .tools/ (scripts/dev.sh says which), and a plain `node` would be the old one.
// Paths are relative to where the person typed `npm run demo` (npm's INIT_CWD).
const userCwd = process.env['INIT_CWD'] ?? process.cwd();
const setupNode = process.env['HEIMDALL_NODE'];
const nodeCmd = setupNode && process.env['HEIMDALL_NODE_FROM_PATH'] !== '1' ? path.relative(userCwd, setupNode) : 'node';
const h = `${nodeCmd} ${path.relative(userCwd, heimdall)}`;
const g = `${nodeCmd} ${path.relative(userCwd, gatewayBin)}`;
const sd = `--state-dir ${agentDir}`;
const gd = `--data-dir ${gatewayDir}`;
console.log(`
Heimdall demo is running (everything on 127.0.0.1, no internet needed).
  gateway   ${gateway.url}   (data in ${gatewayDir})
  agent     proxy 127.0.0.1:${proxyPort}   (state in ${agentDir})
  upstream  ${upstream.url}   (DEMO stand-in for OpenAI, Anthropic and Google)

1. Is AI traffic on this machine governed?
   ${h} status ${sd}

2. Send a request the way an app would, to the real provider host; Heimdall routes it through the gateway:
   ${h} exec ${sd} -- curl -s https://api.openai.com/v1/chat/completions -H 'Authorization: Bearer sk-my-own-key' \\
       -d '{"model":"gpt-demo","messages":[{"role":"user","content":"hello from the demo"}]}'
   With the official SDK, configured only by the environment:
   ${h} exec ${sd} -- ${nodeCmd} --input-type=module -e "import OpenAI from 'openai'; const r = await new OpenAI({apiKey: 'sk-my-own-key'}).chat.completions.create({model: 'gpt-demo', messages: [{role: 'user', content: 'hi'}]}); console.log(r.choices[0].message.content)"

3. See it in the audit events and the app catalog:
   ${g} events list ${gd}
   ${g} apps list ${gd}
   ${h} apps ${sd}

4. Deny the app, try again (403 in OpenAI's error shape), then approve it again:
   ${g} apps deny curl ${gd}
   ${h} exec ${sd} -- curl -s https://api.openai.com/v1/models
   ${g} apps approve curl ${gd}

5. Make unknown apps wait for approval:
   ${g} settings set pending_action block ${gd}

${keepWork ? `The work folder ${work} is kept after the demo stops (--keep): it holds the demo CA's private key.` : `Everything lives in ${work}, deleted when the demo stops (npm run demo -- --keep to keep it).`}
Press Ctrl-C to stop.`);

