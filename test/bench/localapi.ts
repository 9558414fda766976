// Benchmark: what identifying the local API's caller costs per request, the kernel's answer
// (SO_PEERCRED through agent/native/sockdiag, the daemon's path) against the `ss -xpnH` text path it
// replaced (a subprocess listing every unix socket on the machine, then /proc and /etc/passwd). The
// old path is kept here only as the baseline; the agent no longer has it.
// Run alone with `node test/bench/localapi.ts`; the bench runner calls benchLocalApi().
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { callLocalApi, LocalApi, loadPeerCredAddon, platformCallerResolver } from '../../agent/src/localapi/index.ts';

export interface LocalApiBenchResult {
  /** Whole request (connect, HTTP, identify, answer) per request, ms. */
  peercredMs: number[];
  ssMs: number[];
  /** Sequential requests per second over the same run. */
  peercredPerSecond: number;
  ssPerSecond: number;
  /** Unix sockets `ss` had to list (the old path's cost grows with it). */
  unixSockets: number;
  addonLoaded: boolean;
}

// ---- the removed `ss` path, verbatim in behaviour ---------------------------------------------
function ss(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ss', ['-xpnH'], { timeout: 3000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout) => (err ? reject(new Error(`ss failed: ${err.message}`)) : resolve(stdout)));
  });
}

async function ssCaller(socket: Socket): Promise<{ pid: number; uid: number; user?: string } | undefined> {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  const own = /socket:\[(\d+)\]/.exec(await readlink(`/proc/self/fd/${fd}`));
  if (!own) return undefined;
  let pid: number | undefined;
  for (const line of (await ss()).split('\n')) {
    const m = /^u_\S+\s+\S+\s+\d+\s+\d+\s+.*?\s(\d+)\s+\S+\s+(\d+)(?:\s+users:\((.*)\))?\s*$/.exec(line.trim());
    if (m && Number(m[2]) === Number(own[1])) pid = Number(/pid=(\d+)/.exec(m[3] ?? '')?.[1]);
  }
  if (pid === undefined || Number.isNaN(pid)) return undefined;
  const uid = Number(/^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);
  const user = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => Number(l.split(':')[2]) === uid)?.split(':')[0];
  return { pid, uid, ...(user ? { user } : {}) };
}
// -------------------------------------------------------------------------------------------------

async function timed(socket: string, requests: number): Promise<{ ms: number[]; perSecond: number }> {
  const ms: number[] = [];
  const started = performance.now();
  for (let i = 0; i < requests; i++) {
    const t = performance.now();
    const reply = await callLocalApi<{ uid?: number }>(socket, 'GET', '/v1/whoami');
    ms.push(performance.now() - t);
    if (reply.status !== 200 || reply.body.uid !== process.getuid?.()) throw new Error(`the caller was not identified: ${JSON.stringify(reply)}`);
  }
  return { ms, perSecond: requests / ((performance.now() - started) / 1000) };
}

export async function benchLocalApi(options: { requests?: number } = {}): Promise<LocalApiBenchResult> {
  if (process.platform !== 'linux') throw new Error('the local API benchmark compares against `ss`: Linux only');
  const requests = options.requests ?? 300;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-bench-localapi-'));
  const api = new LocalApi({
    socketPath: path.join(dir, 'peercred.sock'),
    logger: silentLogger(),
    resolveCaller: platformCallerResolver(),
    routes: [{ method: 'GET', path: '/v1/whoami', permission: { access: 'read', scope: 'own' }, handle: ({ caller }) => ({ status: 200, body: caller }) }],
  });
  // The old daemon's shape: an HTTP server on a unix socket that runs the ss resolver per request.
  const old = createServer((req, res) => {
    void ssCaller(req.socket).then(
      (caller) => res.writeHead(caller ? 200 : 403, { 'content-type': 'application/json' }).end(JSON.stringify(caller ?? { error: 'unknown' })),
      (err: unknown) => res.writeHead(500).end(JSON.stringify({ error: (err as Error).message })),
    );
  });
  try {
    await api.listen();
    await new Promise<void>((resolve) => old.listen(path.join(dir, 'ss.sock'), resolve));
    // Warm both (module loads, the first subprocess), then alternate halves so load drifts hit both alike.
    await timed(path.join(dir, 'peercred.sock'), 20);
    await timed(path.join(dir, 'ss.sock'), 5);
    const half = Math.ceil(requests / 2);
    const a1 = await timed(path.join(dir, 'peercred.sock'), half);
    const b1 = await timed(path.join(dir, 'ss.sock'), half);
    const a2 = await timed(path.join(dir, 'peercred.sock'), half);
    const b2 = await timed(path.join(dir, 'ss.sock'), half);
    return {
      peercredMs: [...a1.ms, ...a2.ms],
      ssMs: [...b1.ms, ...b2.ms],
      peercredPerSecond: (a1.perSecond + a2.perSecond) / 2,
      ssPerSecond: (b1.perSecond + b2.perSecond) / 2,
      unixSockets: readFileSync('/proc/net/unix', 'utf8').split('\n').length - 2,
      addonLoaded: loadPeerCredAddon() !== undefined,
    };
  } finally {
    await api.close();
    old.closeAllConnections();
    await new Promise<void>((resolve) => old.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await benchLocalApi({ requests: Number(process.argv[2] ?? 300) });
  const p = (v: number[], q: number): string => [...v].sort((x, y) => x - y)[Math.min(v.length - 1, Math.floor((q / 100) * v.length))]!.toFixed(3);
  console.log(`unix sockets on the machine: ${r.unixSockets}; addon loaded: ${r.addonLoaded}`);
  console.log(`SO_PEERCRED: p50 ${p(r.peercredMs, 50)} ms  p99 ${p(r.peercredMs, 99)} ms  ${r.peercredPerSecond.toFixed(0)} req/s`);
  console.log(`ss -xpnH:    p50 ${p(r.ssMs, 50)} ms  p99 ${p(r.ssMs, 99)} ms  ${r.ssPerSecond.toFixed(0)} req/s`);
}
