// The per-user file helper started by the agent as it ships: from source Node runs helper-main.ts;
// the bundle (dist/heimdall.mjs and its chunks) has no such file beside its chunks, so it starts its
// own entry with the helper argument, as the single-file executable does. A real bundle is built
// here and serves a real read as `nobody`, whom the kernel then refuses a root-only file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HelperUserFs, helperCommand, USERFS_HELPER_ARG, UserFsError } from '../../agent/src/userfs/index.ts';
import { bundleAgent } from '../../scripts/bundle.ts';

const me = { uid: 1234, gid: 1234, groups: [27] };

describe('helperCommand', () => {
  it('runs helper-main.ts from source, and the entry with the helper argument from a bundle or an executable', () => {
    const source = helperCommand(me, 'linux', { isSea: false, moduleUrl: 'file:///opt/h/agent/src/userfs/client.ts', mainScript: '/opt/h/bin/heimdall.js' });
    expect(source.args).toEqual(['/opt/h/agent/src/userfs/helper-main.ts', '--uid=1234', '--gid=1234', '--groups=27']);
    const bundled = helperCommand(me, 'linux', { isSea: false, moduleUrl: 'file:///usr/lib/heimdall/heimdall-chunks/chunk-AB12.js', mainScript: '/usr/lib/heimdall/heimdall.mjs' });
    expect(bundled.args).toEqual(['/usr/lib/heimdall/heimdall.mjs', USERFS_HELPER_ARG, '--uid=1234', '--gid=1234', '--groups=27']);
    const sea = helperCommand(me, 'linux', { isSea: true, moduleUrl: 'file:///x.js', mainScript: undefined });
    expect(sea.args).toEqual([USERFS_HELPER_ARG, '--uid=1234', '--gid=1234', '--groups=27']);
    for (const c of [source, bundled, sea]) expect(c.env).toEqual({ PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', NODE_OPTIONS: '--max-old-space-size=256' });
    expect(() => helperCommand(me, 'linux', { isSea: false, moduleUrl: 'file:///usr/lib/heimdall/heimdall.mjs', mainScript: undefined })).toThrow(UserFsError);
  });
});

describe.runIf(process.platform === 'linux' && process.getuid?.() === 0)('the helper from a real bundle', () => {
  let dir = '';
  let bundle = '';
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-bundled-helper-'));
    fs.chmodSync(dir, 0o755);
    bundle = await bundleAgent(path.join(dir, 'dist', 'heimdall.mjs'));
  }, 120_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('starts from the bundle as the user and reads what that user may read, nothing more', async () => {
    // The chunk holding helperCommand, whose URL the bundled code passes as its module URL.
    const chunks = path.join(dir, 'dist', 'heimdall-chunks');
    const chunk = fs.readdirSync(chunks).find((f) => f.endsWith('.mjs') && fs.readFileSync(path.join(chunks, f), 'utf8').includes('cannot start the per-user file helper'));
    expect(chunk).toBeDefined();
    const nobody = { uid: 65534, gid: 65534, groups: [] };
    const command = helperCommand(nobody, 'linux', { isSea: false, moduleUrl: pathToFileURL(path.join(dir, 'dist', 'heimdall-chunks', chunk!)).href, mainScript: bundle });
    const helper = new HelperUserFs(nobody, { command });
    try {
      const read = await helper.read('/etc', 'hostname', { limit: 4096 });
      expect(read).toMatchObject({ kind: 'bytes' });
      expect((read as { bytes: Buffer }).bytes.toString()).toBe(fs.readFileSync('/etc/hostname', 'utf8'));
      await expect(helper.read('/etc', 'shadow', { limit: 1 << 20 })).rejects.toMatchObject({ code: 'denied' });
      expect(helper.starts).toBe(1);
    } finally {
      await helper.close();
    }
  });
});
