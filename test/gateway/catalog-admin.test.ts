// Deleting and merging catalog items through the admin API and the CLI, against a real
// `heimdall-gateway run` process: how an administrator cleans up after a flood (issue 15, attack 2)
// or folds a renamed tool into the one it became.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Peer } from './helpers.ts';
import { GATEWAY_BIN, enrollChild, startGatewayChild, type GatewayChild } from './process.ts';

const run = promisify(execFile);
let gw: GatewayChild;

beforeAll(async () => {
  gw = await startGatewayChild();
});

afterAll(async () => {
  await gw.stop();
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [GATEWAY_BIN, ...args, '--data-dir', gw.dataDir], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { code: 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function report(deviceId: string, appIds: string[]): Promise<Peer> {
  const peer = new Peer(gw.wsUrl, await enrollChild(gw, deviceId));
  await peer.handshake(deviceId);
  peer.send({ type: 'inventory.apps', seq: 1, apps: appIds.map((app_id) => ({ app_id, display_name: app_id })) });
  await peer.next('ack', (m) => m.seq === 1);
  return peer;
}

const catalogIds = async () => (await gw.admin('GET', 'apps')).body.apps.map((a: { id: string }) => a.id) as string[];

describe('catalog delete and merge', () => {
  it('deletes many items in one call, and one by one from the CLI', async () => {
    const junk = Array.from({ length: 300 }, (_, i) => `junk-${i}`);
    const peer = await report('dev-junk', junk);
    expect((await catalogIds()).filter((id) => id.startsWith('junk-'))).toHaveLength(300);
    const bulk = await gw.admin('POST', 'apps/delete', { ids: junk.slice(2) });
    expect(bulk).toEqual({ status: 200, body: { deleted: 298 } });
    const one = await cli('apps', 'delete', 'junk-0', 'junk-1');
    expect(one).toMatchObject({ code: 0, stdout: '2 apps deleted\n' });
    expect((await catalogIds()).some((id) => id.startsWith('junk-'))).toBe(false);
    const again = await gw.admin('DELETE', 'apps/junk-0');
    expect(again.status).toBe(404);
    expect(again.body.error.message).toBe('no app "junk-0" in the catalog');
    peer.close();
  });

  it('merges a renamed tool into the one it became: devices and user exceptions move, the target keeps its decision', async () => {
    const a = await report('dev-merge-a', ['tool-beta']);
    const b = await report('dev-merge-b', ['tool']);
    expect((await gw.admin('POST', 'apps/tool/decision', { status: 'approved' })).status).toBe(200);
    expect((await gw.admin('POST', 'apps/tool-beta/decision', { status: 'denied', user: 'dev-merge-a@example.com' })).status).toBe(200);
    const pushed = b.next('policy', (m) => m.snapshot.apps.some((x) => x.id === 'tool' && x.status === 'approved') && !m.snapshot.apps.some((x) => x.id === 'tool-beta'));
    const merged = await cli('apps', 'merge', 'tool-beta', 'tool');
    expect(merged).toMatchObject({ code: 0, stdout: 'app tool-beta merged into tool (approved, 2 devices)\n' });
    await pushed;
    const tool = (await gw.admin('GET', 'apps')).body.apps.find((x: { id: string }) => x.id === 'tool');
    expect(tool).toMatchObject({ status: 'approved', fleet_count: 2, user_decisions: [{ user_email: 'dev-merge-a@example.com', status: 'denied' }] });
    expect(await catalogIds()).not.toContain('tool-beta');
    const unknown = await cli('apps', 'merge', 'tool-beta', 'tool');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('404: no app "tool-beta" in the catalog');
    a.close();
    b.close();
  });

  it('deletes an MCP server through the API and refuses to merge an item into itself', async () => {
    const peer = new Peer(gw.wsUrl, await enrollChild(gw, 'dev-mcp-del'));
    await peer.handshake('dev-mcp-del');
    const server = { app: 'claude-code', scope: 'user', config_path: '/c.json', name: 'x', transport: 'stdio', fingerprint: 'fp-delete-me', env_keys: [], header_keys: [] };
    peer.send({ type: 'inventory.mcp', seq: 1, servers: [server], errors: [] });
    await peer.next('ack', (m) => m.seq === 1);
    const self = await gw.admin('POST', 'mcp-servers/fp-delete-me/merge', { into: 'fp-delete-me' });
    expect(self.status).toBe(400);
    expect(self.body.error.message).toBe('cannot merge "fp-delete-me" into itself');
    expect(await gw.admin('DELETE', 'mcp-servers/fp-delete-me')).toEqual({ status: 200, body: { deleted: 1 } });
    expect((await gw.admin('GET', 'mcp-servers')).body.mcp_servers.some((x: { fingerprint: string }) => x.fingerprint === 'fp-delete-me')).toBe(false);
    peer.close();
  });
});
