// Benchmark: the two ways the agent can reach SQLite, measured to choose what the single-file
// executables embed (docs/architecture.md, "Executables"): better-sqlite3 (a native addon, one
// build per target) and node:sqlite (built into Node 22.13+, nothing to ship). Each engine runs in
// its own fresh Node process: the time to load the module and open a WAL database, the rate of
// single-row insert transactions (the outbox's write pattern) and of inserts batched 100 to a
// transaction, and the process's RSS after the writes. Bounded: `rows` writes per pattern.
// Run alone with `node test/bench/sqlite-engines.ts [rows]`; the bench runner calls benchSqliteEngines().
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface EngineResult {
  engine: 'better-sqlite3' | 'node:sqlite';
  /** Loading the module and opening a new WAL database (ms). */
  openMs: number;
  /** Single-row transactions per second. */
  singleRowPerSecond: number;
  /** Rows per second inserted 100 to a transaction. */
  batchedRowPerSecond: number;
  rssMb: number;
  /** Bytes shipped beside the executable for this engine (the addon), 0 when built into Node. */
  shippedBytes: number;
}

// The child: one engine, one temporary database, timings as one JSON line on stdout.
const CHILD = String.raw`
const engine = process.argv[1], rows = Number(process.argv[2]), file = process.argv[3];
const { createRequire } = require('node:module');
const load = createRequire(process.argv[4]);
const t0 = performance.now();
let db, prepare, exec;
if (engine === 'node:sqlite') {
  const { DatabaseSync } = load('node:sqlite');
  db = new DatabaseSync(file);
  exec = (s) => db.exec(s);
  prepare = (s) => db.prepare(s);
} else {
  const Better = load('better-sqlite3');
  db = new Better(file);
  exec = (s) => db.exec(s);
  prepare = (s) => db.prepare(s);
}
exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL');
exec('CREATE TABLE outbox (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL, at TEXT NOT NULL)');
const openMs = performance.now() - t0;
const insert = prepare('INSERT INTO outbox (kind, body, at) VALUES (?, ?, ?)');
const body = JSON.stringify({ app: 'claude-code', host: 'api.anthropic.com', decision: 'allow', bytes: 1234 });
let t = performance.now();
for (let i = 0; i < rows; i++) { exec('BEGIN'); insert.run('audit', body, new Date().toISOString()); exec('COMMIT'); }
const singleRowPerSecond = rows / ((performance.now() - t) / 1000);
t = performance.now();
for (let i = 0; i < rows; i += 100) { exec('BEGIN'); for (let j = 0; j < 100; j++) insert.run('audit', body, new Date().toISOString()); exec('COMMIT'); }
const batchedRowPerSecond = rows / ((performance.now() - t) / 1000);
const rssMb = process.memoryUsage().rss / 2 ** 20;
db.close();
process.stdout.write(JSON.stringify({ openMs, singleRowPerSecond, batchedRowPerSecond, rssMb }));
`;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function runEngine(engine: EngineResult['engine'], rows: number, dir: string): Promise<Omit<EngineResult, 'engine' | 'shippedBytes'>> {
  return new Promise((resolve, reject) => {
    const file = path.join(dir, `${engine.replace(/\W/g, '-')}.db`);
    const child = spawn(process.execPath, ['--no-warnings', '-e', CHILD, engine, String(rows), file, path.join(ROOT, 'package.json')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out) as Omit<EngineResult, 'engine' | 'shippedBytes'>);
      else reject(new Error(`sqlite engine bench ${engine} exited with ${code}`));
    });
  });
}

/** The addon better-sqlite3 loads on this machine: its prebuilt one for this target, else a local build. */
function betterSqliteAddonBytes(): number {
  const pkg = path.dirname(createRequire(import.meta.url).resolve('better-sqlite3/package.json'));
  const candidates = [path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}.node`), path.join(pkg, 'build', 'Release', 'better_sqlite3.node')];
  const addon = candidates.find((c) => fs.existsSync(c));
  return addon ? fs.statSync(addon).size : NaN;
}

export async function benchSqliteEngines(rows = 5000): Promise<EngineResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-sqlite-bench-'));
  try {
    const results: EngineResult[] = [];
    // Alternated twice so a busy moment on the machine does not land on one engine only; the faster
    // of each engine's two runs is kept.
    for (const round of [0, 1]) {
      for (const engine of ['better-sqlite3', 'node:sqlite'] as const) {
        const r = await runEngine(engine, rows, fs.mkdtempSync(path.join(dir, `${round}-`)));
        const shippedBytes = engine === 'better-sqlite3' ? betterSqliteAddonBytes() : 0;
        const previous = results.find((p) => p.engine === engine);
        if (!previous) results.push({ engine, shippedBytes, ...r });
        else Object.assign(previous, {
          openMs: Math.min(previous.openMs, r.openMs),
          singleRowPerSecond: Math.max(previous.singleRowPerSecond, r.singleRowPerSecond),
          batchedRowPerSecond: Math.max(previous.batchedRowPerSecond, r.batchedRowPerSecond),
          rssMb: Math.min(previous.rssMb, r.rssMb),
        });
      }
    }
    return results;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatSqliteEngines(results: readonly EngineResult[]): string {
  return results
    .map((r) => `${r.engine.padEnd(15)} open ${r.openMs.toFixed(1)} ms, ${Math.round(r.singleRowPerSecond)} single-row tx/s, ${Math.round(r.batchedRowPerSecond)} rows/s batched, RSS ${r.rssMb.toFixed(1)} MiB, ships ${(r.shippedBytes / 2 ** 20).toFixed(2)} MiB`)
    .join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(formatSqliteEngines(await benchSqliteEngines(Number(process.argv[2]) || undefined)));
}
