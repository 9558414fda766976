// A user's ~/.claude.json cannot exhaust the daemon: 200 MB of project history (100 projects x 2,000
// entries, one mcpServers entry) is rescanned again and again by a real governor in a child process,
// whose memory must stay bounded by a small fraction of the file, scan after scan. The peak is the
// kernel's high-water mark of the resident set; the growth is what the program still holds (heap and
// external buffers) after collection settles, so neither the collector's timing nor the allocator
// keeping freed pages mapped (each once made a resident-set sample fail on a loaded machine) counts.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.ts';

const MB = 1024 * 1024;
let dir = '';
let size = 0;

function writeHugeClaudeJson(file: string): void {
  const fd = fs.openSync(file, 'w');
  const entry = JSON.stringify({ display: 'x'.repeat(980), pastedContents: {} });
  const history = Array.from({ length: 2000 }, () => entry).join(',');
  fs.writeSync(fd, '{"numStartups": 3, "projects": {');
  for (let p = 0; p < 100; p++) {
    const servers = p === 42 ? '{"proj": {"command": "proj-server"}}' : '{}';
    fs.writeSync(fd, `${p ? ',' : ''}"/work/project-${p}": {"allowedTools": [], "history": [${history}], "mcpServers": ${servers}}`);
  }
  fs.writeSync(fd, '}, "mcpServers": {"late": {"type": "http", "url": "https://late.example.com/mcp"}}}');
  fs.closeSync(fd);
}

describe('memory across rescans of a 200 MB ~/.claude.json', () => {
  beforeAll(() => {
    dir = tempDir('heimdall-mcp-rss-');
    fs.mkdirSync(path.join(dir, 'home'));
    writeHugeClaudeJson(path.join(dir, 'home/.claude.json'));
    size = fs.statSync(path.join(dir, 'home/.claude.json')).size;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('peaks within a fifth of the file in the first scan and holds under 5% of the file more over four more', () => {
    expect(size).toBeGreaterThan(200 * 1000 * 1000);
    const child = path.join(import.meta.dirname, 'rescan-memory-child.ts');
    const out = execFileSync(process.execPath, ['--expose-gc', child, path.join(dir, 'home'), '5'], { encoding: 'utf8', maxBuffer: 1024 * 1024 });
    const { before, firstPeak, samples, servers } = JSON.parse(out.trim().split('\n').at(-1)!) as { before: number; firstPeak: number; samples: number[]; servers: string[] };
    expect(servers.sort()).toEqual(['project:proj', 'user:late']);
    const mb = (n: number) => (n / MB).toFixed(0);
    console.log(`rss MB: before ${mb(before)}, first-scan peak ${mb(firstPeak)}; held after each scan MB: ${samples.map(mb).join(' -> ')} (file ${mb(size)} MB)`);
    expect(firstPeak - before).toBeLessThan(size / 5);
    expect(Math.max(...samples.slice(1)) - samples[0]!).toBeLessThan(size / 20);
  }, 300_000);
});
