// The real AI CLIs (npm devDependencies) pointed at the gateway with a virtual key get the DEMO
// upstream's answer: Codex over the Responses websocket, Claude Code over /anthropic, Gemini CLI
// over /genai. Each runs in a throwaway HOME with only the variables it needs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayWithDemo, VK } from './harness.ts';

/** Runs a CLI to completion with stdin closed (Codex waits for more prompt on an open stdin). */
function run(file: string, args: string[], o: { cwd: string; env: NodeJS.ProcessEnv; timeout: number }): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: o.timeout });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${path.basename(file)} exited with ${code ?? signal}\n${stdout}\n${stderr}`));
    });
  });
}
const CLI_TIMEOUT = 60_000;
const bin = (name: string) => path.resolve('node_modules/.bin', name);
const has = (name: string) => fs.existsSync(bin(name));

let env: Awaited<ReturnType<typeof startGatewayWithDemo>>;
let home: string;

beforeAll(async () => {
  env = await startGatewayWithDemo({ chunkDelayMs: 2 });
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-clis-'));
});
afterAll(async () => {
  await env.close();
  fs.rmSync(home, { recursive: true, force: true });
});

/** A minimal environment: no inherited provider keys or proxies can leak into the run. */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`,
    HOME: home,
    TERM: 'dumb',
    NO_COLOR: '1',
    ...extra,
  };
}

const answer = (model: string, prompt: string) => `Hello from the Heimdall demo upstream (model ${model}): ${prompt}`;

describe('real CLIs through the gateway', () => {
  it.skipIf(!has('codex'))('Codex completes a turn over the Responses websocket', async () => {
    const codexHome = path.join(home, 'codex');
    fs.mkdirSync(codexHome, { recursive: true });
    // A custom provider pointed at the gateway's drop-in route, with Codex's websocket transport on.
    fs.writeFileSync(
      path.join(codexHome, 'config.toml'),
      [
        'model = "demo-gpt"',
        'model_provider = "heimdall"',
        '[model_providers.heimdall]',
        'name = "Heimdall gateway"',
        `base_url = "${env.gateway.url}/openai/v1"`,
        'env_key = "HEIMDALL_VIRTUAL_KEY"',
        'wire_api = "responses"',
        'supports_websockets = true',
      ].join('\n'),
    );
    const before = env.demo.received.length;
    const out = await run(bin('codex'), ['exec', '--skip-git-repo-check', 'say hi through the gateway'], {
      cwd: home,
      env: cliEnv({ CODEX_HOME: codexHome, HEIMDALL_VIRTUAL_KEY: VK }),
      timeout: CLI_TIMEOUT,
    });
    expect(out.stdout).toContain(answer('demo-gpt', 'say hi through the gateway'));
    const upstream = env.demo.received.slice(before);
    expect(upstream.some((r) => r.transport === 'websocket' && r.path === '/v1/responses')).toBe(true);
    // It did not have to fall back to the SSE transport.
    expect(upstream.some((r) => r.transport === 'http' && r.path === '/v1/responses')).toBe(false);
    expect(JSON.stringify(upstream)).not.toContain('sk-bf-');
    const events = await env.gateway.waitForEvents(1);
    expect(events.some((e) => e.endpoint === 'openai.responses.websocket' && e.status === 101 && e.userId === 'user-alice')).toBe(true);
  }, CLI_TIMEOUT + 5_000);

  it.skipIf(!has('claude'))('Claude Code gets its answer over /anthropic', async () => {
    const start = env.gateway.events.length;
    const out = await run(bin('claude'), ['-p', 'say hi through the gateway'], {
      cwd: home,
      env: cliEnv({
        ANTHROPIC_BASE_URL: `${env.gateway.url}/anthropic`,
        ANTHROPIC_API_KEY: VK,
        DISABLE_TELEMETRY: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_AUTOUPDATER: '1',
      }),
      timeout: CLI_TIMEOUT,
    });
    expect(out.stdout).toMatch(/Hello from the Heimdall demo upstream \(model [^)]+\): say hi through the gateway/);
    const events = (await env.gateway.waitForEvents(start + 1)).slice(start);
    expect(events.some((e) => e.endpoint === 'anthropic.messages' && e.status === 200 && e.model !== undefined)).toBe(true);
  }, CLI_TIMEOUT + 5_000);

  it.skipIf(!has('gemini'))('Gemini CLI gets its answer over /genai', async () => {
    const settings = path.join(home, '.gemini');
    fs.mkdirSync(settings, { recursive: true });
    fs.writeFileSync(path.join(settings, 'settings.json'), JSON.stringify({ security: { auth: { selectedType: 'gemini-api-key' } } }));
    const start = env.gateway.events.length;
    const out = await run(bin('gemini'), ['-m', 'demo-gemini', '-p', 'say hi through the gateway'], {
      cwd: home,
      env: cliEnv({ GOOGLE_GEMINI_BASE_URL: `${env.gateway.url}/genai`, GEMINI_API_KEY: VK, GEMINI_CLI_TRUST_WORKSPACE: 'true' }),
      timeout: CLI_TIMEOUT,
    });
    expect(out.stdout).toContain(answer('demo-gemini', 'say hi through the gateway'));
    const events = (await env.gateway.waitForEvents(start + 1)).slice(start);
    expect(events.some((e) => e.endpoint === 'genai.stream_generate_content' && e.model === 'demo-gemini' && e.status === 200)).toBe(true);
  }, CLI_TIMEOUT + 5_000);
});
