// A real `heimdall-gateway run` child process for the attack tests of issue 15: its own data dir, an
// ephemeral loopback port, an optional config file, and everything it printed kept for assertions.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONNECT_PATH } from '../../protocol/index.ts';
import { enroll } from './helpers.ts';

export const GATEWAY_BIN = fileURLToPath(new URL('../../bin/heimdall-gateway.js', import.meta.url));

export interface GatewayChild {
  url: string;
  wsUrl: string;
  dataDir: string;
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves once the output contains `text`. */
  waitForOutput(text: string): Promise<void>;
  adminToken(): string;
  admin<T = any>(method: string, pathAndQuery: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

export interface GatewayChildOptions {
  /** The config file's content (JSON). */
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  args?: string[];
  /** An existing data dir (kept at stop). */
  dataDir?: string;
}

export async function startGatewayChild(options: GatewayChildOptions = {}): Promise<GatewayChild> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'heimdall-gwp-'));
  const args = [GATEWAY_BIN, 'run', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...(options.args ?? [])];
  if (options.config) {
    const file = path.join(dataDir, 'gateway.json');
    writeFileSync(file, JSON.stringify(options.config));
    args.push('--config', file);
  }
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dataDir, ...options.env } });
  let output = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      for (const w of waiters.splice(0)) {
        if (output.includes(w.text)) w.resolve();
        else waiters.push(w);
      }
      const line = output.split('\n').find((l) => l.includes('"msg":"gateway listening"'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the gateway exited with ${code} before listening:\n${output}`)));
  });
  const adminToken = () => readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  return {
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}${CONNECT_PATH}`,
    dataDir,
    child,
    output: () => output,
    waitForOutput: (text) => (output.includes(text) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ text, resolve }))),
    adminToken,
    admin: async (method, pathAndQuery, body, token) => {
      const res = await fetch(`${url}/admin/v1/${pathAndQuery}`, {
        method,
        headers: { authorization: `Bearer ${token ?? adminToken()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as any };
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Creates a key for `email` and enrolls `deviceId` with it; returns the device token. */
export async function enrollChild(gw: GatewayChild, deviceId: string, email = `${deviceId}@example.com`): Promise<string> {
  const key = await gw.admin('POST', 'keys', { user_email: email });
  if (key.status !== 201) throw new Error(`key creation failed: ${JSON.stringify(key.body)}`);
  // Enrollment proves the device key: a challenge signed with the device's key pair (helpers.ts).
  const res = await enroll({ url: gw.url }, key.body.key, deviceId);
  const body = res.body;
  if (res.status !== 200) throw new Error(`enrollment failed: ${JSON.stringify(body)}`);
  return body.device_token;
}
