// End-to-end harness: the whole system as real processes on loopback. The DEMO upstream (the
// stand-in for the model providers) runs in the test process; the reference gateway
// (`heimdall-gateway run`) and the agent daemon (`heimdall run --state-dir`) run as child
// processes with their own SQLite files in temporary folders, and everything is driven through the
// same commands a person uses (`heimdall login|status|env|exec|apps|mcp`, `heimdall-gateway ...`).
// Every process started here is killed and every folder removed by `cleanup()`, also on failure.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startDemoUpstream, type DemoUpstream } from '../../gateway/src/demo-upstream/index.ts';
import { HEIMDALL_BIN, REPO_ROOT, startProcess, type RunningProcess } from '../helpers/process.ts';

export const GATEWAY_BIN = path.join(REPO_ROOT, 'bin/heimdall-gateway.js');
export const NODE_BIN_DIR = path.dirname(process.execPath);
export const CLI_BIN = (name: string): string => path.join(REPO_ROOT, 'node_modules/.bin', name);

/** Provider keys the gateway holds (from its environment) and the only ones the DEMO upstream accepts. */
const PROVIDER_KEYS = { openai: 'demo-openai-key', anthropic: 'demo-anthropic-key', genai: 'demo-genai-key' } as const;
const GATEWAY_ENV = { DEMO_OPENAI_KEY: PROVIDER_KEYS.openai, DEMO_ANTHROPIC_KEY: PROVIDER_KEYS.anthropic, DEMO_GENAI_KEY: PROVIDER_KEYS.genai };

export const ORGANIZATION = 'Acme';
export const SUPPORT_URL = 'https://help.acme.example/ai';
export const USER_EMAIL = 'alice@acme.example';

/** The DEMO upstream's reply to `prompt` (see gateway/src/demo-upstream/reply.ts). */
export const demoAnswer = (model: string, prompt: string): string => `Hello from the Heimdall demo upstream (model ${model}): ${prompt}`;

/** A PATH with this Node first and the system tools (curl, python3) after it; nothing else leaks in. */
export const BASE_PATH = `${NODE_BIN_DIR}:/usr/local/bin:/usr/bin:/bin`;

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

// Gateway and agent JSON is asserted on by shape in the tests.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** An agent or gateway event as `heimdall-gateway events list --json` prints it. */
export interface GatewayEvent {
  id: number;
  source: 'agent' | 'gateway';
  device_id: string | null;
  seq: number | null;
  type: string;
  at: string;
  app: string | null;
  os_user: string | null;
  /** The gateway user: the virtual key's for inference, the signed-in OS user's for agent events. */
  user_id: string | null;
  attrs: Record<string, unknown>;
}

/** Polls `probe` every `intervalMs` until it returns a value other than undefined, or fails after `deadlineMs`. */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  options: { deadlineMs: number; intervalMs?: number },
): Promise<{ value: T; elapsedMs: number }> {
  const start = performance.now();
  const interval = options.intervalMs ?? 50;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return { value, elapsedMs: performance.now() - start };
    } catch (err) {
      last = err;
    }
    const elapsed = performance.now() - start;
    if (elapsed >= options.deadlineMs) {
      throw new Error(`${what}: not within ${options.deadlineMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(1, options.deadlineMs - elapsed))));
  }
}

/** A loopback port nobody listens on right now (the agent's proxy needs a fixed one). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Copies the system's curl to `file`: the same program under a name no catalog row knows, so the
 * agent sees an unknown app (identified by the executable's hash).
 */
export function copyCurl(file: string): void {
  const curl = BASE_PATH.split(':').map((d) => path.join(d, 'curl')).find((f) => fs.existsSync(f));
  if (!curl) throw new Error(`curl not found on ${BASE_PATH}`);
  fs.copyFileSync(curl, file);
  fs.chmodSync(file, 0o755);
}

/** Parses `heimdall env` output (`export NAME='value'` lines) into an environment. */
export function parseEnvExports(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^export ([A-Za-z_][A-Za-z0-9_]*)='((?:[^']|'\\'')*)'$/gm)) env[m[1]!] = m[2]!.replaceAll(`'\\''`, `'`);
  return env;
}

/** Signals a child's whole process group (it was started detached, as the group's leader). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

function describeRun(what: string, r: CommandResult): string {
  return `${what} exited with ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

export class GatewayProcess {
  readonly dataDir: string;
  readonly configFile: string;
  port = 0;
  url = '';
  proc: RunningProcess | undefined;
  readonly #e2e: E2e;
  /** Added to the environment of the gateway and its CLI (e.g. NODE_EXTRA_CA_CERTS for a TLS gateway). */
  readonly #env: Record<string, string>;

  constructor(e2e: E2e, dataDir: string, configFile: string, env: Record<string, string> = {}) {
    this.#e2e = e2e;
    this.dataDir = dataDir;
    this.configFile = configFile;
    this.#env = env;
  }

  /** Starts `heimdall-gateway run`; on a restart it listens on the same port and data dir again. */
  async start(): Promise<void> {
    const proc = this.#e2e.start(process.execPath, [GATEWAY_BIN, 'run', '--data-dir', this.dataDir, '--listen', `127.0.0.1:${this.port}`, '--config', this.configFile], {
      env: { PATH: BASE_PATH, HOME: this.dataDir, ...GATEWAY_ENV, ...this.#env },
    });
    const line = await proc.waitForLine((l) => l.includes('"msg":"gateway listening"'), 20_000);
    this.url = (JSON.parse(line) as { url: string }).url;
    this.port = Number(new URL(this.url).port);
    this.proc = proc;
  }

  /** Sends a signal and waits for the gateway to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const proc = this.proc;
    if (!proc) throw new Error('the gateway is not running');
    proc.child.kill(signal);
    const exit = await proc.exited;
    this.proc = undefined;
    return exit;
  }

  /** Runs an admin command (`heimdall-gateway <args> --data-dir DIR`). */
  async cli(args: string[]): Promise<CommandResult> {
    return this.#e2e.run(process.execPath, [GATEWAY_BIN, ...args, '--data-dir', this.dataDir], { env: { PATH: BASE_PATH, HOME: this.dataDir, ...this.#env } });
  }

  /** Runs an admin command with `--json` and parses its answer; a failure is an error naming the command. */
  async json(args: string[]): Promise<Json> {
    const r = await this.cli([...args, '--json']);
    if (r.code !== 0) throw new Error(describeRun(`heimdall-gateway ${args.join(' ')}`, r));
    return JSON.parse(r.stdout);
  }

  /** Every event of a device, paging through `events list` newest first, returned oldest first. */
  async deviceEvents(deviceId: string, pageSize = 25): Promise<GatewayEvent[]> {
    const events: GatewayEvent[] = [];
    let before: number | null = null;
    for (let page = 0; page < 1000; page++) {
      const answer = (await this.json(['events', 'list', '--device', deviceId, '--limit', String(pageSize), ...(before !== null ? ['--before', String(before)] : [])])) as {
        events: GatewayEvent[];
        next_before: number | null;
      };
      events.push(...answer.events);
      if (answer.next_before === null) return events.reverse();
      before = answer.next_before;
    }
    throw new Error('events list: more than 1,000 pages');
  }

  /** The admin API answer for one path (for what the CLI does not print, e.g. a device's inventory). */
  async admin(pathname: string): Promise<Json> {
    if (this.url.startsWith('https:')) throw new Error('admin(): this test helper speaks plain http to the gateway');
    const token = fs.readFileSync(path.join(this.dataDir, 'admin-token'), 'utf8').trim();
    const res = await fetch(`${this.url}${pathname}`, { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(`GET ${pathname}: ${res.status} ${await res.text()}`);
    return res.json();
  }
}

/** The parts of `heimdall status --json` the tests read. */
export interface AgentStatus {
  device_id: string;
  governed: boolean;
  sections: {
    sync: { state: string; policy_version: number | null; outbox_depth: number; summary: string };
    policy: { version: number | null; apps_blocked_now: number; blocked_requests: number; summary: string };
  };
}

export interface AgentOptions {
  /** HOME of the daemon (the home it inventories for MCP servers). */
  home: string;
  /** `--grace` seconds. */
  graceS?: number;
  /** Added to the daemon's environment (e.g. SSL_CERT_FILE as the machine's CA store). */
  env?: Record<string, string>;
}

export class AgentProcess {
  readonly stateDir: string;
  readonly configFile: string;
  readonly proxyPort: number;
  readonly options: AgentOptions;
  proc: RunningProcess | undefined;
  readonly #e2e: E2e;

  constructor(e2e: E2e, stateDir: string, configFile: string, proxyPort: number, options: AgentOptions) {
    this.#e2e = e2e;
    this.stateDir = stateDir;
    this.configFile = configFile;
    this.proxyPort = proxyPort;
    this.options = options;
  }

  get socketPath(): string {
    return path.join(this.stateDir, 'heimdall.sock');
  }

  /**
   * Starts `heimdall run --state-dir` and waits for "heimdall daemon started" and then for the first
   * MCP discovery (it runs in the background), so servers added next are seen by the watcher.
   */
  async start(): Promise<void> {
    const args = [HEIMDALL_BIN, 'run', '--state-dir', this.stateDir, '--config', this.configFile, '--proxy-port', String(this.proxyPort)];
    if (this.options.graceS !== undefined) args.push('--grace', String(this.options.graceS));
    const proc = this.#e2e.start(process.execPath, args, { env: { PATH: BASE_PATH, HOME: this.options.home, ...this.options.env } });
    await proc.waitForLine((l) => l.includes('"msg":"heimdall daemon started"'), 20_000);
    await proc.waitForLine((l) => l.includes('"msg":"MCP discovery complete"'), 20_000);
    this.proc = proc;
  }

  /** Sends a signal and waits for the daemon to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const proc = this.proc;
    if (!proc) throw new Error('the agent is not running');
    proc.child.kill(signal);
    const exit = await proc.exited;
    this.proc = undefined;
    return exit;
  }

  /** Runs `heimdall <args> --state-dir DIR` (the CLI a person uses). */
  async cli(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
    return this.#e2e.run(process.execPath, [HEIMDALL_BIN, ...args, '--state-dir', this.stateDir], {
      env: options.env ?? { PATH: BASE_PATH, HOME: this.options.home },
      ...(options.input !== undefined ? { input: options.input } : {}),
    });
  }

  async json(args: string[]): Promise<Json> {
    const r = await this.cli([...args, '--json']);
    // `status` exits 3-8 whenever traffic is not governed and still prints its JSON, which says why.
    const answered = r.code === 0 || (args[0] === 'status' && r.code !== null && r.code >= 3 && r.code <= 8);
    if (!answered) throw new Error(describeRun(`heimdall ${args.join(' ')}`, r));
    return JSON.parse(r.stdout);
  }

  /**
   * `GET /v1/status` on the daemon's local API socket: the answer `heimdall status --json` prints,
   * without starting a Node process per poll (polls every 50 ms must stay cheap on two cores).
   */
  statusNow(): Promise<AgentStatus> {
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, path: '/v1/status', method: 'GET', timeout: 5_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body) as AgentStatus);
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error('status timed out')));
      req.on('error', reject);
      req.end();
    });
  }

  /** `heimdall login --virtual-key` with the key on stdin. */
  async login(virtualKey: string): Promise<void> {
    const r = await this.cli(['login', '--virtual-key'], { input: virtualKey });
    if (r.code !== 0) throw new Error(describeRun('heimdall login', r));
  }

  /** The environment `heimdall exec` gives a command, read from `heimdall env`. */
  async proxyEnv(): Promise<Record<string, string>> {
    const r = await this.cli(['env']);
    if (r.code !== 0) throw new Error(describeRun('heimdall env', r));
    return parseEnvExports(r.stdout);
  }

  /** `heimdall exec -- command args` in a clean environment (`env` adds to PATH and HOME). */
  exec(command: string, args: string[], options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    return this.#e2e.run(process.execPath, [HEIMDALL_BIN, 'exec', '--state-dir', this.stateDir, '--', command, ...args], {
      env: { PATH: BASE_PATH, HOME: this.options.home, ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    });
  }

  /** Waits until the sync channel is connected and a policy at least `minVersion` is applied. */
  async waitForPolicy(minVersion: number, deadlineMs: number): Promise<{ value: AgentStatus; elapsedMs: number }> {
    return pollUntil(
      `agent policy version >= ${minVersion}`,
      async () => {
        const s = await this.statusNow();
        const v = s.sections.policy.version;
        return s.sections.sync.state === 'connected' && v !== null && v >= minVersion ? s : undefined;
      },
      { deadlineMs },
    );
  }
}

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** The command's process group is killed after this long (default 60 s). */
  timeoutMs?: number;
}

export class E2e {
  /** Every child started, each the leader of its own process group (killed as a group at cleanup). */
  readonly #children = new Set<ChildProcess>();
  readonly #dirs: string[] = [];
  readonly #closers: (() => Promise<void>)[] = [];

  #adopt(child: ChildProcess): void {
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
  }

  /** Starts a long-running process (a daemon, a stream) in its own process group. */
  start(command: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): RunningProcess {
    const proc = startProcess(command, args, { ...options, detached: true });
    this.#adopt(proc.child);
    return proc;
  }

  /**
   * Runs a command to completion in its own process group, so a CLI and whatever it spawned are
   * gone after a timeout or at cleanup, even when a test fails half-way.
   */
  run(command: string, args: string[], options: RunOptions): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, { env: options.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true, ...(options.cwd ? { cwd: options.cwd } : {}) });
      this.#adopt(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => {
        stderr += `\n[e2e harness: killed after ${options.timeoutMs ?? 60_000} ms]`;
        killGroup(child, 'SIGKILL');
      }, options.timeoutMs ?? 60_000);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input ?? '');
    });
  }

  /** A temporary folder removed by cleanup(). */
  dir(prefix: string): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `heimdall-e2e-${prefix}-`));
    this.#dirs.push(d);
    return d;
  }

  /** The DEMO upstream, answering each provider with the keys the gateway holds. */
  async demo(options: { chunkDelayMs?: number } = {}): Promise<DemoUpstream> {
    const demo = await startDemoUpstream({ keys: PROVIDER_KEYS, chunkDelayMs: options.chunkDelayMs ?? 5 });
    this.#closers.push(() => demo.close());
    return demo;
  }

  /** A gateway process whose providers all point at the DEMO upstream; with `tls`, it serves https. */
  async gateway(demo: DemoUpstream, options: { tls?: { certFile: string; keyFile: string }; env?: Record<string, string> } = {}): Promise<GatewayProcess> {
    const dir = this.dir('gateway');
    const configFile = path.join(dir, 'gateway.json');
    const provider = (key: string) => ({ base_url: demo.url, api_key: `env.${key}` });
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        support_url: SUPPORT_URL,
        inference: {
          providers: {
            openai: provider('DEMO_OPENAI_KEY'),
            anthropic: provider('DEMO_ANTHROPIC_KEY'),
            genai: provider('DEMO_GENAI_KEY'),
            chatgpt: { base_url: demo.url },
          },
        },
        ...(options.tls ? { tls: { cert_file: options.tls.certFile, key_file: options.tls.keyFile } } : {}),
      }),
    );
    const gw = new GatewayProcess(this, path.join(dir, 'data'), configFile, options.env);
    await gw.start();
    return gw;
  }

  /** An agent daemon pointed at `gateway`, not yet signed in. */
  async agent(gateway: GatewayProcess, options: Partial<AgentOptions> = {}): Promise<AgentProcess> {
    const dir = this.dir('agent');
    const home = options.home ?? path.join(dir, 'home');
    fs.mkdirSync(home, { recursive: true });
    const configFile = path.join(dir, 'agent.json');
    fs.writeFileSync(configFile, JSON.stringify({ gateway_url: gateway.url, organization: ORGANIZATION, support_url: SUPPORT_URL }));
    const agent = new AgentProcess(this, path.join(dir, 'state'), configFile, await freePort(), { ...options, home });
    await agent.start();
    return agent;
  }

  /**
   * The usual system: DEMO upstream, gateway, a virtual key for alice, an agent signed in with it
   * and holding the gateway's first policy.
   */
  async system(options: { chunkDelayMs?: number; agent?: Partial<AgentOptions> } = {}): Promise<SystemUnderTest> {
    const demo = await this.demo(options.chunkDelayMs !== undefined ? { chunkDelayMs: options.chunkDelayMs } : {});
    const gateway = await this.gateway(demo);
    const key = (await gateway.json(['keys', 'create', '--user', USER_EMAIL])) as { key: string };
    const agent = await this.agent(gateway, options.agent ?? {});
    await agent.login(key.key);
    const status = (await agent.waitForPolicy(1, 15_000)).value;
    return { demo, gateway, agent, virtualKey: key.key, deviceId: status.device_id };
  }

  /** Kills every process group still running (SIGKILL), closes in-process servers, removes the folders. */
  async cleanup(): Promise<void> {
    const running = [...this.#children];
    await Promise.all(
      running.map((child) => {
        const exited = new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
        killGroup(child, 'SIGKILL');
        return exited;
      }),
    );
    for (const close of this.#closers.splice(0)) await close().catch(() => undefined);
    for (const d of this.#dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  }
}

export interface SystemUnderTest {
  demo: DemoUpstream;
  gateway: GatewayProcess;
  agent: AgentProcess;
  virtualKey: string;
  deviceId: string;
}

/** A request body for OpenAI chat completions. */
export function chatBody(prompt: string, stream = false): string {
  return JSON.stringify({ model: 'demo-gpt', messages: [{ role: 'user', content: prompt }], ...(stream ? { stream: true } : {}) });
}
