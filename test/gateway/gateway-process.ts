// A real `heimdall-gateway run` child process for the fleet-trust attack tests: its own data dir, an
// ephemeral loopback port, an optional inference config pointing at a local demo upstream, and an
// admin client reading the 0600 admin-token file as the local CLI does.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CONNECT_PATH } from '../../protocol/index.ts';

const BIN = fileURLToPath(new URL('../../bin/heimdall-gateway.js', import.meta.url));

export interface GatewayChild {
  url: string;
  wsUrl: string;
  dataDir: string;
  admin: <T = any>(method: string, pathAndQuery: string, body?: unknown) => Promise<{ status: number; body: T }>;
  stop: () => Promise<void>;
}

export async function startGatewayChild(options: { inference?: unknown; env?: Record<string, string> } = {}): Promise<GatewayChild> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-proc-'));
  const configFile = path.join(dataDir, 'config.json');
  writeFileSync(configFile, JSON.stringify(options.inference === undefined ? {} : { inference: options.inference }));
  const child: ChildProcess = spawn(process.execPath, [BIN, 'run', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '', HOME: dataDir, ...options.env },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (!line.includes('"msg":"gateway listening"')) return;
      resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`heimdall-gateway run exited with ${code} before listening`)));
  });
  // The child's log is not read further, but must not fill its pipe.
  child.stdout!.resume();
  child.stderr!.resume();
  const adminToken = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  const admin = async (method: string, pathAndQuery: string, body?: unknown) => {
    const res = await fetch(`${url}/admin/v1/${pathAndQuery}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  return {
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}${CONNECT_PATH}`,
    dataDir,
    admin,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
