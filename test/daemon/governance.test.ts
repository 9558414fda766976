// The daemon's Governor: identify once per connection, decide per request, report pending apps once,
// and govern apps that pin certificates at the CONNECT. Real policy engine on a real SQLite file and
// the real app catalog; the process lookup is replaced by fixed identities (the OS boundary).
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ApprovalRequestMessage } from '../../protocol/index.ts';
import { Governance } from '../../agent/src/daemon/governance.ts';
import { AppResolver, type ProcessIdentity, type ProcessResolver } from '../../agent/src/identify/index.ts';
import type { ConnectionInfo } from '../../agent/src/intercept/index.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { ApprovalTracker, POLICY_MIGRATIONS, PolicyEngine, type PolicySnapshot } from '../../agent/src/policy/index.ts';
import { Store } from '../../agent/src/store/index.ts';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function identity(exe: string, argv: string[] = [exe]): ProcessIdentity {
  return { pid: 4242, uid: 1000, user: 'alice', exe, argv };
}

function snapshot(version: number, apps: PolicySnapshot['apps'], pendingAction: 'allow' | 'block' = 'allow'): PolicySnapshot {
  return {
    version,
    issued_at: new Date().toISOString(),
    apps,
    mcp_servers: [],
    settings: { pending_action: pendingAction, fail_mode: 'closed', intercept: true, routing: {}, full_resync_s: 3600, allow_direct_keys: false },
  };
}

function build(who: ProcessIdentity | undefined, platform = 'linux'): { governance: Governance; policy: PolicyEngine; sent: ApprovalRequestMessage[] } {
  const dir = mkdtempSync(path.join(tmpdir(), 'heimdall-gov-'));
  dirs.push(dir);
  const store = new Store({ stateDir: dir, logger: silentLogger(), migrations: [POLICY_MIGRATIONS] });
  stores.push(store);
  const policy = new PolicyEngine({ db: store.db });
  const sent: ApprovalRequestMessage[] = [];
  const processes: ProcessResolver = { platform, lookupByLocalPeer: () => Promise.resolve(who) };
  const governance = new Governance({
    processes,
    apps: new AppResolver({ platform }),
    policy,
    approvals: new ApprovalTracker({ db: store.db, policy }),
    userIdFor: () => undefined,
    sendApprovalRequest: (m) => (sent.push(m), true),
    messageContext: () => ({ organization: 'Acme', supportUrl: 'https://help.acme.example' }),
    logger: silentLogger(),
  });
  return { governance, policy, sent };
}

const connectTo = (host: string, intercepted: boolean): ConnectionInfo => ({
  clientAddress: '127.0.0.1', clientPort: 50_000, proxyAddress: '127.0.0.1', proxyPort: 7420, family: 'IPv4', targetHost: host, targetPort: 443, intercepted,
});

describe('governance', () => {
  it('decides again on every request, so an approval applies on a kept-alive connection', async () => {
    const { governance, policy } = build(identity('/usr/bin/curl'));
    policy.applyPolicySnapshot(snapshot(1, [{ id: 'curl', status: 'denied' }]));
    const admission = await governance.admitConnection(connectTo('api.openai.com', true));
    expect(admission).toMatchObject({ decision: 'admit', attribution: { appId: 'curl', osUser: 'alice', uid: 1000 } });
    const request = { host: 'api.openai.com', method: 'POST', path: '/v1/chat/completions', route: {} as never, headers: {} };
    const blocked = governance.admitRequest(admission.attribution, request);
    expect(blocked).toMatchObject({
      decision: 'block',
      message: 'curl is blocked at Acme: an administrator denied it. If you need it for your work, ask for access with `heimdall request-access curl --reason "why you need it"` or at https://help.acme.example/.',
      policy: { verdict: 'block', status: 'denied', policyVersion: 1 },
    });
    policy.applyPolicySnapshot(snapshot(2, [{ id: 'curl', status: 'approved' }]));
    // The decision that was enforced travels with the answer: version 2 allowed it.
    expect(governance.admitRequest(admission.attribution, request)).toMatchObject({ decision: 'allow', policy: { verdict: 'allow', status: 'approved', policyVersion: 2 } });
  });

  it('reports a pending app for approval once, not on every request', async () => {
    const { governance, policy, sent } = build(identity('/usr/bin/curl'));
    policy.applyPolicySnapshot(snapshot(1, [], 'block'));
    const admission = await governance.admitConnection(connectTo('api.openai.com', true));
    for (let i = 0; i < 3; i++) {
      expect((governance.admitRequest(admission.attribution, { host: 'api.openai.com', method: 'GET', path: '/v1/models', route: {} as never, headers: {} })).decision).toBe('block');
    }
    expect(sent).toEqual([expect.objectContaining({ type: 'approval.request', kind: 'app', app_id: 'curl', os_user: 'alice' })]);
  });

  it('refuses a blocked app at the CONNECT to a consumer AI site it cannot look inside', async () => {
    const { governance, policy } = build(identity('/usr/bin/curl'));
    policy.applyPolicySnapshot(snapshot(1, [{ id: 'curl', status: 'denied' }]));
    expect((await governance.admitConnection(connectTo('perplexity.ai', false))).decision).toBe('refuse');
    // Any other host is a plain tunnel: governance is about AI traffic.
    expect((await governance.admitConnection(connectTo('github.com', false))).decision).toBe('admit');
  });

  it('tunnels an allowed app that pins certificates and refuses it at the CONNECT when blocked', async () => {
    const chatgpt = identity('/Applications/ChatGPT.app/Contents/MacOS/ChatGPT');
    const { governance, policy } = build({ ...chatgpt, signatureStatus: 'Valid', teamId: '2DC432GLL2', bundleId: 'com.openai.chat', signingId: 'com.openai.chat' }, 'darwin');
    policy.applyPolicySnapshot(snapshot(1, [{ id: 'chatgpt-desktop', status: 'approved' }]));
    expect(await governance.admitConnection(connectTo('chatgpt.com', true))).toMatchObject({ decision: 'admit', tunnel: true, attribution: { appId: 'chatgpt-desktop' } });
    policy.applyPolicySnapshot(snapshot(2, [{ id: 'chatgpt-desktop', status: 'denied' }]));
    expect(await governance.admitConnection(connectTo('chatgpt.com', true))).toMatchObject({ decision: 'refuse', atConnect: true });
  });

  it('governs a connection whose process vanished as the unknown app under fail-closed pending rules', async () => {
    const { governance, policy } = build(undefined);
    policy.applyPolicySnapshot(snapshot(1, [], 'block'));
    const admission = await governance.admitConnection(connectTo('api.anthropic.com', true));
    expect(admission.attribution.appId).toBe('unknown');
    const decision = governance.admitRequest(admission.attribution, { host: 'api.anthropic.com', method: 'POST', path: '/v1/messages', route: {} as never, headers: {} });
    expect(decision.decision).toBe('block');
  });

  it('refuses an unverified Claude Code when the organization requires verification, naming why, and allows the system curl it verified', async () => {
    // A copy of curl in a home folder: named claude, so Claude Code, but nothing proves it.
    const { governance, policy } = build({ ...identity('/home/alice/bin/claude'), sharesFileView: true });
    const snap = snapshot(1, [{ id: 'claude-code', status: 'approved' }, { id: 'curl', status: 'denied' }]);
    snap.settings.require_verified = ['claude-code'];
    policy.applyPolicySnapshot(snap);
    const admission = await governance.admitConnection(connectTo('api.anthropic.com', true));
    expect(admission.attribution).toMatchObject({ appId: 'claude-code', identityVerified: false });
    expect(admission.attribution.identityProof).toBeUndefined();
    expect(governance.admitRequest(admission.attribution, { host: 'api.anthropic.com', method: 'POST', path: '/v1/messages', route: {} as never, headers: {} })).toMatchObject({
      decision: 'block',
      message:
        "Claude Code is allowed at Acme only when its identity can be verified, and this copy could not be verified (install it where only an administrator can change it, or use the vendor's signed build). Help: https://help.acme.example/",
      policy: { verdict: 'block', status: 'unverified' },
    });
  });

  it('never attributes a connection to the daemon itself (a proxy loop)', async () => {
    const { governance, policy } = build({ ...identity('/usr/bin/node'), pid: process.pid, uid: 0, user: 'root' });
    policy.applyPolicySnapshot(snapshot(1, [{ id: 'node', status: 'approved' }]));
    const admission = await governance.admitConnection(connectTo('api.openai.com', true));
    expect(admission).toMatchObject({ decision: 'refuse', atConnect: true, attribution: { routingMode: 'gateway' } });
    expect(admission.attribution.osUser).toBeUndefined();
  });
});
