// kill -9 of the agent loses nothing the outbox acknowledged as written: a real child process is
// killed with SIGKILL in the middle of its write loop and the store file is reopened afterwards.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';
import { Outbox, SYNC_MIGRATIONS } from '../../agent/src/sync/index.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function runAndKill(stateDir: string, killAfter: number): Promise<{ acked: number[]; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    // The child acknowledges on fd 3 (see outbox-writer-child.ts for why not stdout).
    const child = spawn(process.execPath, [path.join(import.meta.dirname, 'outbox-writer-child.ts'), stateDir], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    const acks = child.stdio[3] as Readable;
    let out = '';
    let stderr = '';
    let killed = false;
    acks.setEncoding('utf8');
    acks.on('data', (chunk: string) => {
      out += chunk;
      if (!killed && out.split('\n').length > killAfter + 2) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    // 'close' fires after the child's pipes are drained: every line it wrote before dying is in `out`.
    child.on('close', (_code, signal) => {
      if (!killed) return reject(new Error(`child exited on its own: ${stderr}`));
      const acked = out
        .split('\n')
        .filter((l) => /^\d+$/.test(l))
        .map(Number);
      resolve({ acked, signal });
    });
  });
}

describe('outbox durability', () => {
  it('keeps every acknowledged event when the writer is killed with SIGKILL mid-loop, twice over', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-kill9-'));
    dirs.push(dir);
    const stateDir = path.join(dir, 'state');

    const first = await runAndKill(stateDir, 1500);
    expect(first.signal).toBe('SIGKILL');
    expect(first.acked.length).toBeGreaterThanOrEqual(1500);
    const second = await runAndKill(stateDir, 800);
    expect(second.signal).toBe('SIGKILL');

    // Reopen as the restarted daemon would (quick_check runs at open).
    const store = new Store({ stateDir, logger: silentLogger(), migrations: [SYNC_MIGRATIONS] });
    try {
      const outbox = new Outbox({ db: store.db, logger: silentLogger() });
      const seqs = store.db.prepare<[], { seq: number }>('SELECT seq FROM sync_outbox ORDER BY seq').all().map((r) => r.seq);
      const acked = [...first.acked, ...second.acked];
      // Every acknowledged seq is there...
      const have = new Set(seqs);
      expect(acked.filter((s) => !have.has(s))).toEqual([]);
      // ...and at most one more per run: a commit that finished just before the kill, before its line was written.
      expect(seqs.length - acked.length).toBeGreaterThanOrEqual(0);
      expect(seqs.length - acked.length).toBeLessThanOrEqual(2);
      // Seqs are contiguous and the second run continued after the first (never reused).
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
      expect(Math.min(...second.acked)).toBeGreaterThan(Math.max(...first.acked));
      expect(outbox.depth().rows).toBe(seqs.length);
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      store.close();
    }
  });
});
