// Prometheus metrics on loopback: off by default, on with metrics_port, bounded labels, counts that move.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HEIMDALL_BIN, freePort, runToEnd, startProcess, type RunningProcess } from '../helpers/process.ts';

let dir: string;
let stateDir: string;
let daemon: RunningProcess;
let metricsPort: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'heimdall-metrics-'));
  stateDir = path.join(dir, 'state');
  metricsPort = await freePort();
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ gateway_url: 'http://127.0.0.1:9', metrics_port: metricsPort }));
  daemon = startProcess(process.execPath, [HEIMDALL_BIN, 'run', '--state-dir', stateDir, '--config', config, '--proxy-port', String(await freePort())]);
  await daemon.waitForLine((l) => l.includes('"heimdall daemon started"'));
});

afterAll(async () => {
  daemon.child.kill('SIGTERM');
  await daemon.exited;
  rmSync(dir, { recursive: true, force: true });
});

const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();

describe('metrics', () => {
  it('serves Prometheus text on loopback with the daemon gauges', async () => {
    const text = await scrape();
    expect(text).toContain('# TYPE heimdall_requests_total counter');
    expect(text).toMatch(/^heimdall_policy_version -1$/m);
    expect(text).toMatch(/^heimdall_sync_connected 0$/m);
  });

  it('counts a request by app, provider, route and outcome', async () => {
    // Nobody signed in: the proxy refuses with 401 in OpenAI's shape, a `blocked` outcome.
    const reply = await runToEnd(process.execPath, [HEIMDALL_BIN, 'exec', '--state-dir', stateDir, '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'https://api.openai.com/v1/models']);
    expect(reply.stdout).toBe('401');
    const line = (await scrape()).split('\n').find((l) => l.startsWith('heimdall_requests_total{'));
    expect(line).toBe('heimdall_requests_total{app="curl",provider="openai",route="openai-api",decision="blocked"} 1');
  });

  it('refuses a page that re-points its own name at loopback (DNS rebinding): only loopback Host names are served', async () => {
    const asked = async (host: string): Promise<{ status: number; body: string }> => {
      const r = await runToEnd('curl', ['-s', '-H', `Host: ${host}`, '-w', '\n%{http_code}', `http://127.0.0.1:${metricsPort}/metrics`]);
      const cut = r.stdout.lastIndexOf('\n');
      return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
    };
    const rebound = await asked(`rebind.attacker.example:${metricsPort}`);
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain('heimdall_');
    expect(rebound.body).toContain('Host: "rebind.attacker.example:');
    expect((await asked(`localhost:${metricsPort}`)).status).toBe(200);
    expect((await asked(`[::1]:${metricsPort}`)).status).toBe(200);
    expect((await asked(`127.0.0.1:${metricsPort + 1}`)).status).toBe(403);
  });
});
