// `npm run demo`: the whole system on one machine with no internet. Starts the DEMO upstream (a
// stand-in for model providers), the reference gateway on an embedded SQLite in a temp data dir, and
// the agent daemon unprivileged; enrolls the agent with a demo virtual key; prints what to try.
// Ctrl-C stops everything cleanly.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDemoUpstream } from '../gateway/src/demo-upstream/index.ts';
import { EMPTY_CONFIG } from '../gateway/src/config.ts';
import { startGateway } from '../gateway/src/server.ts';
import { createLogger } from '../agent/src/lib/logger.ts';

const root = path.resolve(import.meta.dirname, '..');
const work = mkdtempSync(path.join(tmpdir(), 'heimdall-demo-'));
const gatewayDir = path.join(work, 'gateway');
const agentDir = path.join(work, 'agent');
const agentConfig = path.join(work, 'agent-config.json');
const heimdall = path.join(root, 'bin/heimdall.js');
const gatewayBin = path.join(root, 'bin/heimdall-gateway.js');
const logger = createLogger({ level: 'warn', name: 'heimdall-gateway' });

// The gateway reads provider keys from the environment (env.NAME references), never from its database.
const DEMO_KEYS = { openai: 'demo-openai-key', anthropic: 'demo-anthropic-key', genai: 'demo-genai-key' };
process.env['DEMO_OPENAI_KEY'] = DEMO_KEYS.openai;
process.env['DEMO_ANTHROPIC_KEY'] = DEMO_KEYS.anthropic;
process.env['DEMO_GENAI_KEY'] = DEMO_KEYS.genai;

const upstream = await startDemoUpstream({ keys: DEMO_KEYS });
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
const { key: virtualKey } = await gateway.control.createVirtualKey({ email: 'demo.user@demo.example', name: 'demo' });

writeFileSync(agentConfig, `${JSON.stringify({ gateway_url: gateway.url, organization: 'Demo Corp', support_url: 'https://help.demo.example/ai' }, null, 2)}\n`);
// Port 0 is not a proxy port a person can type; pick a free one in a high range.
const proxyPort = 17_420 + Math.floor(Math.random() * 500);
const agent: ChildProcess = spawn(process.execPath, [heimdall, 'run', '--state-dir', agentDir, '--config', agentConfig, '--proxy-port', String(proxyPort), '--log-level', 'warn'], {
  stdio: ['ignore', 'inherit', 'inherit'],
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
  ready = (await runCli(['status', '--state-dir', agentDir])).code === 0;
  if (!ready) await new Promise((r) => setTimeout(r, 200));
}
const login = await runCli(['login', '--virtual-key', '--state-dir', agentDir], virtualKey);
if (login.code !== 0) {
  console.error(`The demo could not sign the agent in:\n${login.out}`);
  await stop(1);
}

const h = `node ${path.relative(process.cwd(), heimdall)}`;
const g = `node ${path.relative(process.cwd(), gatewayBin)}`;
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
   ${h} exec ${sd} -- node --input-type=module -e "import OpenAI from 'openai'; const r = await new OpenAI({apiKey: 'sk-my-own-key'}).chat.completions.create({model: 'gpt-demo', messages: [{role: 'user', content: 'hi'}]}); console.log(r.choices[0].message.content)"

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

Press Ctrl-C to stop.`);

let stopping = false;
async function stop(code: number): Promise<never> {
  if (stopping) process.exit(1);
  stopping = true;
  agent.kill('SIGTERM');
  await new Promise<void>((resolve) => {
    if (agent.exitCode !== null) resolve();
    else agent.once('exit', () => resolve());
  });
  await gateway.close();
  await upstream.close();
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(0));
agent.on('exit', (code) => {
  if (!stopping) {
    console.error(`the agent daemon exited (${code ?? 'signal'}); stopping the demo`);
    void stop(1);
  }
});
