// The userfs room on its own: the frame format's bounds, the helper's arguments, and a real helper
// process started for a real user (made here with useradd) that the kernel holds to that user.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HelperUserFs, LocalUserFs, parseHelperArgs, supplementaryGroups, UserFsError } from '../../agent/src/userfs/index.ts';
import { encodeFrame, FrameReader, MAX_FRAME } from '../../agent/src/userfs/protocol.ts';
import { ManualClock } from '../../lib/index.ts';

describe('helper frames and arguments', () => {
  it('reassembles frames split across chunks and refuses one announced over the limit', () => {
    const bytes = Buffer.concat([encodeFrame({ id: 1 }), encodeFrame({ id: 2, data: 'x'.repeat(1000) })]);
    const reader = new FrameReader();
    const got = [...reader.push(bytes.subarray(0, 7)), ...reader.push(bytes.subarray(7, 500)), ...reader.push(bytes.subarray(500))];
    expect(got.map((f) => (f as { id: number }).id)).toEqual([1, 2]);
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(MAX_FRAME + 1, 0);
    expect(() => new FrameReader().push(huge)).toThrow(/over the \d+-byte limit/);
  });

  it('takes only numeric ids', () => {
    expect(parseHelperArgs(['--uid=1001', '--gid=1001', '--groups=27,1001'])).toEqual({ uid: 1001, gid: 1001, groups: [27, 1001] });
    expect(() => parseHelperArgs(['--uid=0;id', '--gid=1', '--groups='])).toThrow(/--uid: expected a non-negative integer/);
    expect(() => parseHelperArgs(['--gid=1', '--groups='])).toThrow(/missing --uid=/);
  });
});

describe('a no-follow walk in this process', () => {
  it('refuses a linked folder on the way and a linked file, and reads a plain file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-userfs-'));
    try {
      fs.mkdirSync(path.join(dir, 'real'));
      fs.writeFileSync(path.join(dir, 'real/f.json'), '{}');
      fs.symlinkSync(path.join(dir, 'real'), path.join(dir, 'linked'));
      fs.symlinkSync('f.json', path.join(dir, 'real/g.json'));
      const local = new LocalUserFs();
      await expect(local.read(dir, 'linked/f.json', { limit: 100 })).rejects.toMatchObject({ code: 'symlink', message: expect.stringContaining(`${path.join(dir, 'linked')} is a symbolic link`) });
      await expect(local.read(dir, 'real/g.json', { limit: 100 })).rejects.toBeInstanceOf(UserFsError);
      expect(await local.read(dir, 'real/f.json', { limit: 100 })).toMatchObject({ kind: 'bytes', bytes: Buffer.from('{}') });
      expect(await local.read(dir, 'real/none.json', { limit: 100 })).toBeUndefined();
      await expect(local.read(dir, '../etc/passwd', { limit: 100 })).rejects.toThrow(/without ".."/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.runIf(process.platform !== 'win32')('the helper\'s lifetime', () => {
  it('serves a whole batch from one process, exits after the idle time, and a later request starts another', async () => {
    const clock = new ManualClock();
    const me = { uid: process.getuid!(), gid: process.getgid!(), groups: [] };
    const helper = new HelperUserFs(me, { clock, idleMs: 30_000 });
    try {
      for (let i = 0; i < 20; i++) expect(await helper.read('/etc', 'hostname', { limit: 4096 })).toMatchObject({ kind: 'bytes' });
      expect(helper.starts).toBe(1);
      clock.advance(29_999);
      expect(await helper.read('/etc', 'hostname', { limit: 4096 })).toMatchObject({ kind: 'bytes' });
      expect(helper.starts).toBe(1);
      clock.advance(30_000);
      expect(await helper.read('/etc', 'hostname', { limit: 4096 })).toMatchObject({ kind: 'bytes' });
      expect(helper.starts).toBe(2);
    } finally {
      await helper.close();
    }
  });
});

describe.runIf(process.platform === 'linux' && process.getuid?.() === 0)('a helper process for a real user', () => {
  const name = `hd-uf${process.pid % 100000}`;
  let base = '';
  let uid = -1;
  let gid = -1;
  beforeAll(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-userfs-'));
    fs.chmodSync(base, 0o755);
    execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', name]);
    uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  });
  afterAll(() => {
    execFileSync('userdel', [name]);
    fs.rmSync(base, { recursive: true, force: true });
  });

  it('reads and writes with the user\'s credentials: root\'s files are refused by the kernel, new files are the user\'s', async () => {
    fs.writeFileSync(path.join(base, 'root-only.json'), '{"secret": 1}', { mode: 0o600 });
    const mine = path.join(base, 'mine');
    fs.mkdirSync(mine);
    fs.chownSync(mine, uid, gid);
    const helper = new HelperUserFs({ uid, gid, groups: await supplementaryGroups(uid) });
    try {
      await expect(helper.read(base, 'root-only.json', { limit: 1000 })).rejects.toMatchObject({ code: 'denied' });
      await expect(helper.replace(base, 'planted.json', Buffer.from('{}'), { mode: 0o644 })).rejects.toMatchObject({ code: 'denied' });
      expect(fs.existsSync(path.join(base, 'planted.json'))).toBe(false);
      await helper.replace(mine, 'new.json', Buffer.from('{"a": 1}'), { mode: 0o640 });
      const st = fs.statSync(path.join(mine, 'new.json'));
      expect([st.uid, st.gid, st.mode & 0o777]).toEqual([uid, gid, 0o640]);
      expect(await helper.read(mine, 'new.json', { limit: 1000 })).toMatchObject({ kind: 'bytes', info: { uid, gid } });
      expect(helper.starts).toBe(1); // one helper for every request
    } finally {
      await helper.close();
    }
  });
});
