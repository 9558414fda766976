// The daemon's malloc trim: once apps' connections fall well below their peak and the proxy has been
// quiet for a while, memory malloc kept is given back, once per quiet period and never while busy.
// Time is a ManualClock; the proxy's reports come from a real proxy in the last test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import vm from 'node:vm';
import { MallocTrim, collectAllGarbage } from '../../agent/src/daemon/malloc-trim.ts';
import { ManualClock } from '../../agent/src/lib/clock.ts';
import { createLogger, silentLogger } from '../../agent/src/lib/logger.ts';
import type { ClientActivity } from '../../agent/src/intercept/index.ts';
import { createHeimdallCa, startProxy, type RunningProxy } from '../intercept/harness.ts';

function build(options: { trim?: boolean } = {}): { trimmer: MallocTrim; clock: ManualClock; calls: () => number } {
  const clock = new ManualClock();
  let calls = 0;
  const trim = options.trim === false ? undefined : () => { calls++; return true; };
  const trimmer = new MallocTrim({ trim, clock, logger: silentLogger() });
  return { trimmer, clock, calls: () => calls };
}

function open(t: ClientActivity, n: number): void {
  for (let i = 0; i < n; i++) t.connectionOpened();
}

function close(t: ClientActivity, n: number): void {
  for (let i = 0; i < n; i++) t.connectionClosed();
}

describe('malloc trim after a connection burst', () => {
  it('trims once, after the connections fell well below their peak and the proxy stayed quiet for 10 s', () => {
    const { trimmer, clock, calls } = build();
    open(trimmer, 5000);
    clock.advance(30_000);
    close(trimmer, 4990);
    clock.advance(9_999);
    expect(calls()).toBe(0);
    clock.advance(1);
    expect(calls()).toBe(1);
    clock.advance(600_000);
    expect(calls()).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('waits while requests keep arriving on the connections left, and trims once they stop', () => {
    const { trimmer, clock, calls } = build();
    open(trimmer, 1000);
    close(trimmer, 990);
    for (let second = 0; second < 60; second++) {
      trimmer.requestArrived();
      clock.advance(1_000);
    }
    expect(calls()).toBe(0);
    clock.advance(10_000);
    expect(calls()).toBe(1);
  });

  it('counts connections opening and closing as activity: the quiet starts after the last close', () => {
    const { trimmer, clock, calls } = build();
    open(trimmer, 1000);
    for (let i = 0; i < 100; i++) {
      close(trimmer, 9);
      clock.advance(1_000);
    }
    expect(calls()).toBe(0);
    clock.advance(10_000);
    expect(calls()).toBe(1);
  });

  it('trims no more than once per quiet period: the next trim needs a new peak and a new fall', () => {
    const { trimmer, clock, calls } = build();
    open(trimmer, 1000);
    close(trimmer, 1000);
    clock.advance(10_000);
    expect(calls()).toBe(1);
    // Small churn after the trim: no new peak worth a trim.
    open(trimmer, 50);
    close(trimmer, 50);
    clock.advance(60_000);
    expect(calls()).toBe(1);
    // A second burst and its fall: a second trim.
    open(trimmer, 800);
    close(trimmer, 800);
    clock.advance(10_000);
    expect(calls()).toBe(2);
  });

  it('collects garbage first, so the closed connections\' native memory has reached malloc when it trims', () => {
    const clock = new ManualClock();
    const steps: string[] = [];
    const trimmer = new MallocTrim({ trim: () => { steps.push('trim'); return true; }, collect: () => steps.push('collect'), clock, logger: silentLogger() });
    open(trimmer, 1000);
    close(trimmer, 1000);
    clock.advance(10_000);
    expect(steps).toEqual(['collect', 'trim']);
  });

  it('does not trim when the fall is small or most connections are still open', () => {
    const small = build();
    open(small.trimmer, 150);
    close(small.trimmer, 150);
    small.clock.advance(60_000);
    expect(small.calls()).toBe(0);

    const mostOpen = build();
    open(mostOpen.trimmer, 5000);
    close(mostOpen.trimmer, 2000);
    mostOpen.clock.advance(60_000);
    expect(mostOpen.calls()).toBe(0);
  });

  it('does not trim when the connections came back while it waited', () => {
    const { trimmer, clock, calls } = build();
    open(trimmer, 1000);
    close(trimmer, 1000);
    clock.advance(5_000);
    open(trimmer, 900);
    clock.advance(60_000);
    expect(calls()).toBe(0);
  });

  it('does nothing where the addon has no malloc_trim, and says so once at debug level', () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (chunk: Buffer, _e, done) => { lines.push(chunk.toString()); done(); } });
    const clock = new ManualClock();
    const trimmer = new MallocTrim({ trim: undefined, clock, logger: createLogger({ level: 'debug', destination }) });
    open(trimmer, 5000);
    close(trimmer, 5000);
    clock.advance(60_000);
    expect(clock.pendingTimers).toBe(0);
    expect(trimmer.trims).toBe(0);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ level: 'debug', msg: expect.stringContaining('malloc trim unavailable') });
  });

  it('close() cancels a pending trim', () => {
    const { trimmer, clock, calls } = build();
    open(trimmer, 1000);
    close(trimmer, 1000);
    trimmer.close();
    clock.advance(60_000);
    expect(calls()).toBe(0);
  });
});

describe('collectAllGarbage', () => {
  it('runs V8\'s collection without --expose-gc, and leaves no gc function behind', () => {
    expect(collectAllGarbage()).toBe(true);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    expect(vm.runInNewContext('typeof gc')).toBe('undefined');
  });
});

describe('the proxy reports its client activity', () => {
  let dir: string;
  let proxy: RunningProxy;
  const seen = { opened: 0, closed: 0, requests: 0 };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-malloc-trim-'));
    const ca = await createHeimdallCa(dir);
    proxy = await startProxy(ca, {
      gatewayUrl: 'https://127.0.0.1:9',
      activity: {
        connectionOpened: () => { seen.opened++; },
        connectionClosed: () => { seen.closed++; },
        requestArrived: () => { seen.requests++; },
      },
    });
  });

  afterAll(async () => {
    await proxy.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('tells of each client connection opening and closing, and of each request', async () => {
    const sockets = await Promise.all([0, 1, 2].map(() => new Promise<net.Socket>((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1', () => resolve(s));
    })));
    const [first] = sockets;
    if (!first) throw new Error('no socket');
    // Two requests on one keep-alive connection: the PAC the proxy serves itself.
    const answered = new Promise<void>((resolve) => {
      let text = '';
      first.on('data', (d: Buffer) => {
        text += d.toString();
        if ((text.match(/HTTP\/1\.1 200/g) ?? []).length === 2) resolve();
      });
    });
    first.write('GET /proxy.pac HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /proxy.pac HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await answered;
    await Promise.all(sockets.map((s) => new Promise((resolve) => { s.once('close', resolve); s.destroy(); })));
    await expect.poll(() => seen.closed).toBe(3);
    expect(seen).toEqual({ opened: 3, closed: 3, requests: 2 });
  });
});
