// The administrator's allow-list for local targets, end to end: a managed file names one loopback
// service, the daemon's proxy tunnels to it and to nothing else on this machine, and taking the entry
// out of the file (a live reload, as an MDM push would do) closes the tunnel again.
import http from 'node:http';
import type net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEIMDALL_BIN, freePort, runToEnd, startProcess, type RunningProcess } from '../helpers/process.ts';

let dir: string;
let config: string;
let daemon: RunningProcess;
let proxyPort: number;
const services: http.Server[] = [];

async function localService(body: string): Promise<number> {
  const server = http.createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  services.push(server);
  return (server.address() as net.AddressInfo).port;
}

/** curl through the daemon's proxy with a CONNECT tunnel: the tunnel's status and what came through it. */
async function throughProxy(port: number): Promise<{ connect: string; body: string }> {
  const r = await runToEnd('curl', ['-s', '--noproxy', '', '-p', '-x', `http://127.0.0.1:${proxyPort}`, '-w', '\n%{http_connect}', `http://127.0.0.1:${port}/`]);
  const cut = r.stdout.lastIndexOf('\n');
  return { connect: r.stdout.slice(cut + 1), body: r.stdout.slice(0, cut) };
}

let allowedPort: number;
let otherPort: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'heimdall-local-targets-config-'));
  allowedPort = await localService('ALLOWED-SERVICE');
  otherPort = await localService('OTHER-SERVICE');
  proxyPort = await freePort();
  config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ gateway_url: 'http://127.0.0.1:9', proxy_port: proxyPort, local_targets_allowed: [`127.1:${allowedPort}`] }));
  daemon = startProcess(process.execPath, [HEIMDALL_BIN, 'run', '--state-dir', path.join(dir, 'state'), '--config', config]);
  await daemon.waitForLine((l) => l.includes('"interception proxy listening"'));
});

afterAll(async () => {
  daemon.child.kill('SIGTERM');
  await daemon.exited;
  await Promise.all(services.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

describe('local_targets_allowed from the managed file', () => {
  it('tunnels to the loopback service the file names (written as 127.1), and to no other', async () => {
    expect(await throughProxy(allowedPort)).toEqual({ connect: '200', body: 'ALLOWED-SERVICE' });
    expect(await throughProxy(otherPort)).toEqual({ connect: '403', body: expect.not.stringContaining('OTHER-SERVICE') });
  });

  it('closes the tunnel again when a live reload takes the entry out', async () => {
    writeFileSync(config, JSON.stringify({ gateway_url: 'http://127.0.0.1:9', proxy_port: proxyPort }));
    await daemon.waitForLine((l) => l.includes('"configuration changed; applying it"') && l.includes('local_targets_allowed'));
    await daemon.waitForLine((l) => l.includes('"interception proxy listening"') && daemon.lines().filter((x) => x.includes('"interception proxy listening"')).length >= 2);
    const refused = await throughProxy(allowedPort);
    expect(refused.connect).toBe('403');
    expect(refused.body).not.toContain('ALLOWED-SERVICE');
  });
});
