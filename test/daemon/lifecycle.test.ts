import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import path from 'node:path';
import { startProcess, REPO_ROOT, type RunningProcess } from '../helpers/process.ts';

const CHILD = path.join(REPO_ROOT, 'test/fixtures/daemon/drain-child.ts');
const running: RunningProcess[] = [];

afterEach(() => {
  for (const p of running.splice(0)) p.child.kill('SIGKILL');
});

async function startChild(env: Record<string, string>): Promise<{ proc: RunningProcess; port: number }> {
  const proc = startProcess(process.execPath, [CHILD], { env: { ...process.env, ...env } });
  running.push(proc);
  const line = await proc.waitForLine((l) => l.startsWith('{"port"'));
  return { proc, port: (JSON.parse(line) as { port: number }).port };
}

/** Starts a request and resolves once its first bytes arrived (the work is then in flight). */
function inFlightRequest(port: number): Promise<{ body: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let text = '';
      const body = new Promise<string>((done, fail) => {
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => done(text));
        res.on('error', fail);
        res.on('aborted', () => fail(new Error('aborted')));
      });
      res.once('data', () => resolve({ body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, () => resolve(false));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    req.end();
  });
}

describe('daemon lifecycle', () => {
  it('on SIGTERM stops accepting, lets in-flight work finish, and exits 0', async () => {
    const { proc, port } = await startChild({ HOLD_MS: '1000', GRACE_MS: '10000' });
    const { body } = await inFlightRequest(port);
    proc.child.kill('SIGTERM');
    await proc.waitForLine((l) => l.includes('no new work accepted; draining'));
    expect(await connectRefused(port)).toBe(true);
    expect(await body).toBe('started\nfinished\n');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    const stopping = proc.logs().find((l) => l['msg'] === 'no new work accepted; draining');
    expect(stopping?.['in_flight']).toBe(1);
    expect(proc.logs().some((l) => l['msg'] === 'stopped')).toBe(true);
  });

  it('closes work that outlives the grace period and still exits 0', async () => {
    const { proc, port } = await startChild({ HOLD_MS: '60000', GRACE_MS: '300' });
    const { body } = await inFlightRequest(port);
    proc.child.kill('SIGTERM');
    await expect(body).rejects.toThrow();
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(proc.logs().some((l) => l['msg'] === 'grace period over; closing the remaining work')).toBe(true);
  });

  it('exits at once with code 1 on a second signal', async () => {
    const { proc, port } = await startChild({ HOLD_MS: '60000', GRACE_MS: '60000' });
    const { body } = await inFlightRequest(port);
    const cut = expect(body).rejects.toThrow();
    proc.child.kill('SIGINT');
    await proc.waitForLine((l) => l.includes('no new work accepted; draining'));
    proc.child.kill('SIGINT');
    expect(await proc.exited).toEqual({ code: 1, signal: null });
    await cut;
    expect(proc.logs().some((l) => l['msg'] === 'second signal: exiting now')).toBe(true);
  });
});
