// Malformed and hostile files in a user's home: each is reported with a clear per-file error, the
// last good servers stay in force, and nothing is read or written that should not be.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRig, writeFile, type Rig } from './helpers.ts';

const UID = 4242;
let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function userRig(): Promise<Rig> {
  const r = await makeRig();
  r.user.uid = UID;
  r.user.gid = UID;
  fs.chownSync(r.home, UID, UID);
  return r;
}

function ownTree(r: Rig): void {
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isSymbolicLink()) continue;
      fs.chownSync(p, UID, UID);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(r.home);
}

const cursorFile = (r: Rig): string => path.join(r.home, '.cursor/mcp.json');
const errorsFor = (r: Rig, file: string) => r.governor.inventory().errors.filter((e) => e.configPath === file);

describe.runIf(process.getuid?.() === 0)('hostile and malformed files', () => {
  it('keeps the last good servers when a file becomes half-written, and says so', async () => {
    rig = await userRig();
    const file = cursorFile(rig);
    const good = JSON.stringify({ mcpServers: { a: { command: 'a-server' }, b: { url: 'https://b.example.com/mcp' } } }, null, 2);
    writeFile(file, good);
    ownTree(rig);
    await rig.governor.rescan();
    expect(rig.governor.inventory().servers.map((s) => s.name)).toEqual(['a', 'b']);

    fs.writeFileSync(file, good.slice(0, good.length / 2));
    await rig.governor.rescan();
    const inv = rig.governor.inventory();
    expect(inv.servers.map((s) => s.name)).toEqual(['a', 'b']);
    expect(errorsFor(rig, file)).toEqual([
      expect.objectContaining({ code: 'parse', keptLastGood: true, message: expect.stringMatching(/mcp\.json: not valid JSON with comments .* line \d+.*stay in force/) }),
    ]);
  });

  it('reports one invalid entry without hiding the others', async () => {
    rig = await userRig();
    const file = cursorFile(rig);
    writeFile(file, JSON.stringify({ mcpServers: { broken: { args: 5 }, empty: {}, fine: { command: 'ok' } } }));
    ownTree(rig);
    await rig.governor.rescan();
    expect(rig.governor.inventory().servers.map((s) => s.name)).toEqual(['fine']);
    expect(errorsFor(rig, file).map((e) => [e.code, /server "(\w+)"/.exec(e.message)?.[1]])).toEqual([
      ['invalid-entry', 'broken'],
      ['invalid-entry', 'empty'],
    ]);
  });

  it('refuses absurd nesting before parsing it', async () => {
    rig = await userRig();
    const file = cursorFile(rig);
    writeFile(file, `{"mcpServers": {"x": {"args": ${'['.repeat(200_000)}${']'.repeat(200_000)}}}}`);
    ownTree(rig);
    await rig.governor.rescan();
    expect(errorsFor(rig, file)).toEqual([expect.objectContaining({ code: 'too-deep', keptLastGood: false })]);
  });

  it('reports binary garbage as binary', async () => {
    rig = await userRig();
    const file = cursorFile(rig);
    writeFile(file, randomBytes(64 * 1024));
    ownTree(rig);
    await rig.governor.rescan();
    expect(errorsFor(rig, file)).toEqual([expect.objectContaining({ code: 'binary' })]);
  });

  it('neither reads nor writes through a symlink to /etc/passwd, nor a file another user owns', async () => {
    rig = await userRig();
    const passwdBefore = fs.readFileSync('/etc/passwd', 'utf8');
    const link = cursorFile(rig);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync('/etc/passwd', link);
    const foreign = path.join(rig.home, '.codeium/windsurf/mcp_config.json');
    const foreignText = JSON.stringify({ mcpServers: { planted: { command: 'evil' } } });
    writeFile(foreign, foreignText);
    ownTree(rig);
    fs.chownSync(foreign, 65534, 65534); // planted by `nobody`
    await rig.governor.rescan();
    for (const s of rig.governor.inventory().servers) rig.decisions.set(s.fingerprint, 'block');
    await rig.governor.applyPolicy();

    const inv = rig.governor.inventory();
    expect(inv.servers).toEqual([]);
    expect(errorsFor(rig, link)).toEqual([expect.objectContaining({ code: 'symlink', message: expect.stringContaining('/etc/passwd') })]);
    expect(errorsFor(rig, foreign)).toEqual([expect.objectContaining({ code: 'foreign-owner', message: expect.stringContaining('uid 65534') })]);
    expect(JSON.stringify(inv)).not.toContain('root:x:0:0');
    // Not compared byte for byte: other test files create and remove real users meanwhile. What a write
    // through the link would leave is a JSON document in place of passwd lines.
    const passwdAfter = fs.readFileSync('/etc/passwd', 'utf8');
    const rootLine = (text: string) => text.split('\n').find((l) => l.startsWith('root:'));
    expect(rootLine(passwdAfter)).toBe(rootLine(passwdBefore));
    expect(passwdAfter.split('\n').filter(Boolean).every((l) => /^[^:]*:[^:]*:\d+:\d+:[^:]*:[^:]*:[^:]*$/.test(l))).toBe(true);
    expect(passwdAfter).not.toContain('mcpServers');
    expect(fs.readFileSync(foreign, 'utf8')).toBe(foreignText);
    expect(fs.readlinkSync(link)).toBe('/etc/passwd');
  });

  it('streams a 200 MB ~/.claude.json for its servers and refuses a 200 MB Cursor file', async () => {
    rig = await userRig();
    const claude = path.join(rig.home, '.claude.json');
    const fd = fs.openSync(claude, 'w');
    const filler = JSON.stringify('x'.repeat(1000));
    const chunk = Array.from({ length: 1000 }, () => filler).join(',');
    fs.writeSync(fd, '{"numStartups": 3, "projects": {"/work/app": {"history": [');
    for (let i = 0; i < 200; i++) fs.writeSync(fd, (i ? ',' : '') + chunk);
    fs.writeSync(fd, '], "mcpServers": {"proj": {"command": "proj-server"}}}}, "mcpServers": {"late": {"type": "http", "url": "https://late.example.com/mcp"}}}');
    fs.closeSync(fd);
    const cursor = cursorFile(rig);
    writeFile(cursor, '');
    fs.truncateSync(cursor, 200 * 1024 * 1024);
    ownTree(rig);
    expect(fs.statSync(claude).size).toBeGreaterThan(200_000_000);

    await rig.governor.rescan();
    const inv = rig.governor.inventory();
    expect(inv.servers.map((s) => [s.name, s.scope, s.projectPath])).toEqual([
      ['late', 'user', undefined],
      ['proj', 'project', '/work/app'],
    ]);
    expect(errorsFor(rig, claude)).toEqual([]);
    expect(errorsFor(rig, cursor)).toEqual([expect.objectContaining({ code: 'too-large', message: expect.stringMatching(/over the \d+-byte limit; not read and never written/) })]);
    fs.rmSync(claude);
    fs.rmSync(cursor);
  }, 120_000);
});
