// The first discovery runs in the background of the daemon's start: until it has run, a policy change
// neither reports nor enforces an empty inventory (which would undo the blocks in force), and the
// governor says whether the discovery is still in progress.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRig, writeFile, type Rig } from './helpers.ts';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('the first MCP discovery', () => {
  it('ignores a policy change that comes before it, then inventories and reports with the policy of its time', async () => {
    rig = await makeRig();
    writeFile(path.join(rig.home, '.codex/config.toml'), '[mcp_servers.docs]\ncommand = "/bin/true"\nargs = ["docs-server"]\n');
    expect(rig.governor.discovery().state).toBe('in_progress');

    await rig.governor.applyPolicy();
    expect(rig.reports).toEqual([]);
    expect(rig.audits).toEqual([]);

    await rig.governor.start();
    const discovery = rig.governor.discovery();
    expect(discovery.state).toBe('done');
    expect(discovery.finished_at).not.toBeNull();
    expect(rig.reports.map((r) => r.servers.map((s) => s.name))).toEqual([['docs']]);
  });

  it('reports a discovery that failed', async () => {
    rig = await makeRig({ users: undefined, mode: 'root', passwdFile: '/nonexistent/passwd' });
    await expect(rig.governor.start()).rejects.toThrow();
    expect(rig.governor.discovery()).toMatchObject({ state: 'failed', error: expect.any(String) });
  });
});
