// A real unprivileged user (made here with useradd) turns the root daemon's MCP file work against
// root: a parent folder of their config swapped for a symbolic link to a root-owned folder after the
// daemon read the file and before it writes its block; a read through a linked parent; a symlink
// loop in place of a config file. Each is refused, reported, and root's folder stays untouched.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeRig, tempDir, writeFile, type Rig } from './helpers.ts';

const isRoot = process.getuid?.() === 0;
const name = `hd-fs${process.pid % 100000}`;
let base = '';
let home = '';
let uid = -1;
let gid = -1;
let rig: Rig | undefined;

/** Runs a shell command as the test user, the way that user would on their own laptop. */
function asUser(script: string): void {
  execFileSync('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '/bin/sh', '-c', script], { cwd: '/', env: { PATH: '/usr/bin:/bin', HOME: home } });
}

function snapshot(dir: string): string[] {
  return fs.readdirSync(dir).sort().map((f) => {
    const st = fs.lstatSync(path.join(dir, f));
    return `${f}:${st.ino}:${st.uid}:${st.size}:${fs.readFileSync(path.join(dir, f), 'utf8')}`;
  });
}

describe.runIf(process.platform === 'linux' && isRoot)('a local user points the daemon at root-owned folders', () => {
  beforeAll(() => {
    base = tempDir('heimdall-userfs-');
    fs.chmodSync(base, 0o755);
    home = path.join(base, 'home');
    execFileSync('useradd', ['--create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', '--user-group', name]);
    uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  });
  afterAll(() => {
    execFileSync('userdel', ['--remove', name], { stdio: 'ignore' });
    fs.rmSync(base, { recursive: true, force: true });
  });
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
    fs.rmSync(path.join(home, '.cursor'), { recursive: true, force: true });
    fs.rmSync(path.join(home, '.cursor.mine'), { recursive: true, force: true });
    fs.rmSync(path.join(home, '.codeium'), { recursive: true, force: true });
  });

  async function userRig(): Promise<Rig> {
    const r = await makeRig({ home, platform: 'linux' });
    Object.assign(r.user, { name, uid, gid, home });
    return r;
  }

  it('refuses to write through a parent folder swapped for a link to a root-owned folder between its read and its write', async () => {
    const config = JSON.stringify({ mcpServers: { exfil: { command: 'exfil-mcp' } } }, null, 2);
    asUser(`mkdir -p ~/.cursor && printf '%s' '${config}' > ~/.cursor/mcp.json`);
    // Root's folder (0755), holding a file the user was given there: the last component the old
    // check looked at is then the user's own file, whatever folder it sits in.
    const rootDir = path.join(base, 'root-owned');
    fs.mkdirSync(rootDir, { mode: 0o755 });
    fs.writeFileSync(path.join(rootDir, 'mcp.json'), config);
    fs.chownSync(path.join(rootDir, 'mcp.json'), uid, gid);
    fs.writeFileSync(path.join(rootDir, 'root-only.conf'), 'root=1\n');
    const before = snapshot(rootDir);

    rig = await userRig();
    await rig.governor.rescan();
    expect(rig.governor.inventory().servers.map((s) => s.name)).toEqual(['exfil']);
    // The swap, by the user, after the daemon's read and before its write.
    asUser(`mv ~/.cursor ~/.cursor.mine && ln -s ${rootDir} ~/.cursor`);
    for (const s of rig.governor.inventory().servers) rig.decisions.set(s.fingerprint, 'block');
    await rig.governor.applyPolicy();

    expect(snapshot(rootDir)).toEqual(before);
    const refused = rig.audits.filter((a) => a.action === 'refused');
    expect(refused).toEqual([expect.objectContaining({ path: path.join(home, '.cursor/mcp.json'), detail: expect.stringContaining('symbolic link') })]);
    expect(rig.audits.filter((a) => a.action === 'entry-disabled')).toEqual([]);
  });

  it('reports a read through a linked parent folder as refused, not as "no file"', async () => {
    const elsewhere = path.join(home, 'dotfiles/windsurf');
    asUser(`mkdir -p ${elsewhere} ~/.codeium && printf '%s' '{"mcpServers":{"hidden":{"command":"hidden-mcp"}}}' > ${elsewhere}/mcp_config.json && ln -s ${elsewhere} ~/.codeium/windsurf`);
    rig = await userRig();
    await rig.governor.rescan();
    const file = path.join(home, '.codeium/windsurf/mcp_config.json');
    const inv = rig.governor.inventory();
    expect(inv.servers).toEqual([]);
    expect(inv.errors.filter((e) => e.configPath === file)).toEqual([
      expect.objectContaining({ code: 'symlink', osUser: name, message: expect.stringContaining(`${path.join(home, '.codeium/windsurf')} is a symbolic link (to ${elsewhere})`) }),
    ]);
  });

  it('reports a symlink loop in place of a config file as refused', async () => {
    asUser('mkdir -p ~/.cursor && ln -s mcp.json ~/.cursor/mcp.json');
    rig = await userRig();
    await rig.governor.rescan();
    const file = path.join(home, '.cursor/mcp.json');
    expect(rig.governor.inventory().errors.filter((e) => e.configPath === file)).toEqual([
      expect.objectContaining({ code: 'symlink', message: expect.stringContaining(`${file} is a symbolic link`) }),
    ]);
  });

  it('reads and edits the user\'s file as the user: the file stays theirs', async () => {
    asUser(`mkdir -p ~/.cursor && printf '%s' '{"mcpServers":{"a":{"command":"a-mcp"}}}' > ~/.cursor/mcp.json && chmod 600 ~/.cursor/mcp.json`);
    rig = await userRig();
    await rig.governor.rescan();
    for (const s of rig.governor.inventory().servers) rig.decisions.set(s.fingerprint, 'block');
    await rig.governor.applyPolicy();
    const file = path.join(home, '.cursor/mcp.json');
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ mcpServers: { a: { command: 'a-mcp', disabled: true } } });
    const st = fs.statSync(file);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([uid, gid, 0o600]);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['mcp.json']);
  });
});

describe.runIf(process.platform === 'linux' && isRoot)('managed policy files the daemon owns', () => {
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it('writes managed policy only under folders no one but root can change', async () => {
    rig = await makeRig({ platform: 'linux' });
    writeFile(path.join(rig.home, '.gemini/settings.json'), JSON.stringify({ mcpServers: { shadow: { command: 'shadow-mcp' } } }));
    fs.mkdirSync(path.join(rig.managedRoot, 'etc'), { mode: 0o777 });
    fs.chmodSync(path.join(rig.managedRoot, 'etc'), 0o777); // group- and world-writable, no sticky bit
    await rig.governor.rescan();
    for (const s of rig.governor.inventory().servers) rig.decisions.set(s.fingerprint, 'block');
    await rig.governor.applyPolicy();
    expect(fs.existsSync(path.join(rig.managedRoot, 'etc/gemini-cli'))).toBe(false);
    expect(rig.audits.filter((a) => a.app === 'gemini-cli')).toEqual([
      expect.objectContaining({ action: 'refused', detail: expect.stringContaining(`${path.join(rig.managedRoot, 'etc')} is writable by its group (mode 777)`) }),
    ]);
  });

  it('removes the Gemini CLI and VS Code policy files it created once nothing is blocked', async () => {
    rig = await makeRig({ platform: 'linux' });
    writeFile(path.join(rig.home, '.gemini/settings.json'), JSON.stringify({ mcpServers: { shadow: { command: 'shadow-mcp' } } }));
    writeFile(path.join(rig.home, '.config/Code/User/mcp.json'), JSON.stringify({ servers: { shady: { command: 'shady-mcp' } } }));
    await rig.governor.rescan();
    for (const s of rig.governor.inventory().servers) rig.decisions.set(s.fingerprint, 'block');
    await rig.governor.applyPolicy();
    const gemini = path.join(rig.managedRoot, 'etc/gemini-cli/settings.json');
    const vscode = path.join(rig.managedRoot, 'etc/vscode/policy.json');
    expect([fs.existsSync(gemini), fs.existsSync(vscode)]).toEqual([true, true]);

    rig.decisions.clear();
    await rig.governor.applyPolicy();
    expect([fs.existsSync(gemini), fs.existsSync(vscode)]).toEqual([false, false]);
    expect(rig.audits.filter((a) => a.action === 'policy-removed').map((a) => a.path).sort()).toEqual([gemini, vscode]);
  });
});
