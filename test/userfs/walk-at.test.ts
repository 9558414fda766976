// The macOS walk (openat/renameat/unlinkat from the addon, agent/native/sockdiag/fsat_posix.c),
// run here on Linux where the addon carries the same C: the parent swapped for a link to another
// folder after the walk checked it, as an attacker racing the daemon would. The walk macOS had
// before (`by-path`: each prefix opened by path and compared with lstat) writes into the link's
// target; `at` and Linux's `proc-fd` write into the folder they checked.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAtOps, LocalUserFs, UserFsError, Walker, type AtOps, type WalkKind } from '../../agent/src/userfs/index.ts';

const at = loadAtOps();
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function home(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-walkat-'));
  dirs.push(d);
  fs.mkdirSync(path.join(d, '.cursor'));
  fs.writeFileSync(path.join(d, '.cursor/mcp.json'), '{"mcpServers":{}}');
  // Where the attacker wants the daemon's write to land (a root-owned folder in the real attack).
  fs.mkdirSync(path.join(d, 'victim'));
  return d;
}

function walker(kind: WalkKind): Walker {
  return kind === 'at' ? new Walker('at', at) : new Walker(kind);
}

/** A LocalUserFs that, once the walk has opened `.cursor`, swaps it for a link to `victim`. */
function racedFs(kind: WalkKind, dir: string): LocalUserFs {
  return new LocalUserFs({
    walker: walker(kind),
    afterWalk: () => {
      fs.renameSync(path.join(dir, '.cursor'), path.join(dir, '.cursor-moved'));
      fs.symlinkSync(path.join(dir, 'victim'), path.join(dir, '.cursor'));
      return Promise.resolve();
    },
  });
}

describe('the openat walk (macOS), on this kernel', () => {
  it('has the addon calls built (npm ci)', () => {
    expect(at, 'agent/native/sockdiag was built without fsat_posix.c: run npm ci').toBeDefined();
  });

  it('the old by-path walk lets a parent swapped after the check redirect the write (the attack works there)', async () => {
    const dir = home();
    await racedFs('by-path', dir).replace(dir, '.cursor/mcp.json', Buffer.from('{"planted":true}'), { mode: 0o644 });
    expect(fs.readFileSync(path.join(dir, 'victim/mcp.json'), 'utf8')).toBe('{"planted":true}');
  });

  for (const kind of ['at', 'proc-fd'] as const) {
    it(`${kind}: writes, reads and removes in the folder it checked, whatever its path names after a swap`, async () => {
      const dir = home();
      await racedFs(kind, dir).replace(dir, '.cursor/mcp.json', Buffer.from('{"x":1}'), { mode: 0o640 });
      expect(fs.readdirSync(path.join(dir, 'victim'))).toEqual([]);
      expect(fs.readFileSync(path.join(dir, '.cursor-moved/mcp.json'), 'utf8')).toBe('{"x":1}');
      expect(fs.statSync(path.join(dir, '.cursor-moved/mcp.json')).mode & 0o777).toBe(0o640);
      // No temporary file left behind.
      expect(fs.readdirSync(path.join(dir, '.cursor-moved'))).toEqual(['mcp.json']);

      fs.writeFileSync(path.join(dir, 'victim/secret.json'), '{"victim":1}');
      fs.unlinkSync(path.join(dir, '.cursor'));
      fs.renameSync(path.join(dir, '.cursor-moved'), path.join(dir, '.cursor'));
      fs.writeFileSync(path.join(dir, '.cursor/secret.json'), '{"own":1}');
      const read = await racedFs(kind, dir).read(dir, '.cursor/secret.json', { limit: 100 });
      expect((read as { bytes: Buffer }).bytes.toString()).toBe('{"own":1}');

      fs.unlinkSync(path.join(dir, '.cursor'));
      fs.renameSync(path.join(dir, '.cursor-moved'), path.join(dir, '.cursor'));
      await racedFs(kind, dir).remove(dir, '.cursor/secret.json');
      expect(fs.existsSync(path.join(dir, 'victim/secret.json'))).toBe(true);
      expect(fs.existsSync(path.join(dir, '.cursor-moved/secret.json'))).toBe(false);
    });
  }

  it('at: refuses a linked folder on the way and a linked file, and reads a plain file', async () => {
    const dir = home();
    fs.symlinkSync(path.join(dir, 'victim'), path.join(dir, 'linked'));
    fs.symlinkSync('mcp.json', path.join(dir, '.cursor/link.json'));
    const local = new LocalUserFs({ walker: walker('at') });
    await expect(local.read(dir, 'linked/mcp.json', { limit: 100 })).rejects.toMatchObject({ code: 'symlink', message: expect.stringContaining(`${path.join(dir, 'linked')} is a symbolic link`) });
    await expect(local.read(dir, '.cursor/link.json', { limit: 100 })).rejects.toMatchObject({ code: 'symlink' });
    await expect(local.replace(dir, 'linked/x.json', Buffer.from('{}'), { mode: 0o600 })).rejects.toBeInstanceOf(UserFsError);
    expect(fs.readdirSync(path.join(dir, 'victim'))).toEqual([]);
    expect(await local.read(dir, '.cursor/mcp.json', { limit: 100 })).toMatchObject({ kind: 'bytes', bytes: Buffer.from('{"mcpServers":{}}') });
    expect(await local.read(dir, '.cursor/none.json', { limit: 100 })).toBeUndefined();
    expect(await local.read(dir, 'none/mcp.json', { limit: 100 })).toBeUndefined();
  });

  it('at: the addon takes exactly one path component and names the errno like Node does', () => {
    const ops = at as AtOps;
    const fd = fs.openSync(home(), 'r');
    try {
      expect(() => ops.openat(fd, '../etc', fs.constants.O_RDONLY, 0)).toThrow(/name one path component/);
      expect(() => ops.openat(fd, 'a/b', fs.constants.O_RDONLY, 0)).toThrow(/name one path component/);
      expect(() => ops.openat(fd, 'nope', fs.constants.O_RDONLY, 0)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      expect(() => ops.unlinkat(fd, 'nope')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    } finally {
      fs.closeSync(fd);
    }
  });
});
