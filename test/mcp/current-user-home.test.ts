// A development daemon (--state-dir, current-user mode) inventories the home its user's apps use:
// $HOME, not the passwd entry. Started with a temporary HOME, it must find the servers that the
// apps (which also follow HOME) wrote there.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRig, tempDir, writeFile, type Rig } from './helpers.ts';

const savedHome = process.env['HOME'];
let rig: Rig | undefined;
afterEach(async () => {
  process.env['HOME'] = savedHome;
  await rig?.close();
  rig = undefined;
});

describe('current-user mode', () => {
  it('inventories the home named by HOME, where the apps wrote their configs', async () => {
    const home = tempDir('heimdall-mcp-home-');
    writeFile(path.join(home, '.codex/config.toml'), '[mcp_servers.docs]\ncommand = "/bin/true"\nargs = ["docs-server"]\n');
    process.env['HOME'] = home;
    // No `users` override: the governor enumerates the current user itself, as the daemon does.
    rig = await makeRig({ home, users: undefined });
    await rig.governor.start();
    const found = rig.governor.list().map((r) => ({ app: r.app, name: r.name, configPath: r.configPath }));
    expect(found).toEqual([{ app: 'codex', name: 'docs', configPath: path.join(home, '.codex/config.toml') }]);
  });
});
