// The policy engine on a real SQLite store: the decision matrix, validation that keeps the last good
// policy, atomic replacement, persistence across a reopen, fail_mode without a policy.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';
import {
  POLICY_MIGRATIONS,
  PolicyEngine,
  PolicyRejectedError,
  PolicySnapshotSchema,
  StalePolicyError,
  type CatalogStatus,
  type PolicyChange,
  type PolicySnapshot,
} from '../../agent/src/policy/index.ts';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function stateDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'heimdall-policy-'));
  dirs.push(d);
  return d;
}

function openStore(dir: string): Store {
  const store = new Store({ stateDir: dir, logger: silentLogger(), migrations: [POLICY_MIGRATIONS] });
  stores.push(store);
  return store;
}

function snapshot(over: Partial<PolicySnapshot> & { pending_action?: 'allow' | 'block'; fail_mode?: 'open' | 'closed' } = {}): PolicySnapshot {
  const { pending_action = 'block', fail_mode = 'open', ...rest } = over;
  return {
    version: 1,
    issued_at: '2026-11-22T10:00:00.000Z',
    apps: [],
    mcp_servers: [],
    settings: { pending_action, fail_mode, intercept: true, routing: {}, full_resync_s: 300, allow_direct_keys: false },
    ...rest,
  };
}

function engineWith(snap: PolicySnapshot | undefined, failMode: 'open' | 'closed' = 'open'): PolicyEngine {
  const engine = new PolicyEngine({ db: openStore(stateDir()).db, failMode });
  if (snap) engine.applyPolicySnapshot(snap);
  return engine;
}

type Row = [global: CatalogStatus | '-', alice: CatalogStatus | '-', pendingAction: 'allow' | 'block', verdict: 'allow' | 'block', status: CatalogStatus, scope: 'user' | 'global' | 'default'];

const MATRIX: Row[] = [
  // global decision only
  ['denied', '-', 'allow', 'block', 'denied', 'global'],
  ['denied', '-', 'block', 'block', 'denied', 'global'],
  ['approved', '-', 'allow', 'allow', 'approved', 'global'],
  ['approved', '-', 'block', 'allow', 'approved', 'global'],
  ['pending', '-', 'allow', 'allow', 'pending', 'global'],
  ['pending', '-', 'block', 'block', 'pending', 'global'],
  // not in the catalog at all: pending by default
  ['-', '-', 'allow', 'allow', 'pending', 'default'],
  ['-', '-', 'block', 'block', 'pending', 'default'],
  // a user-scoped decision overrides the global one, both ways
  ['denied', 'approved', 'block', 'allow', 'approved', 'user'],
  ['denied', 'approved', 'allow', 'allow', 'approved', 'user'],
  ['approved', 'denied', 'allow', 'block', 'denied', 'user'],
  ['approved', 'denied', 'block', 'block', 'denied', 'user'],
  ['pending', 'approved', 'block', 'allow', 'approved', 'user'],
  ['pending', 'denied', 'allow', 'block', 'denied', 'user'],
  ['approved', 'pending', 'block', 'block', 'pending', 'user'],
  ['approved', 'pending', 'allow', 'allow', 'pending', 'user'],
  ['denied', 'pending', 'allow', 'allow', 'pending', 'user'],
];

describe('decision matrix', () => {
  it.each(MATRIX)('app global=%s alice=%s pending_action=%s -> %s (%s, %s)', (global, alice, pendingAction, verdict, status, scope) => {
    const apps = global === '-' ? [] : [{ id: 'claude-code', status: global, ...(alice === '-' ? {} : { users: { alice } }) }];
    const engine = engineWith(snapshot({ pending_action: pendingAction, apps }));
    expect(engine.decideApp({ appId: 'claude-code', osUser: 'alice' })).toMatchObject({ verdict, status, scope, policyVersion: 1 });
    // Bob has no user-scoped entry: the global decision (or the default) applies to him.
    if (scope === 'user') expect(engine.decideApp({ appId: 'claude-code', osUser: 'bob' }).scope).toBe(global === '-' ? 'default' : 'global');
  });

  it.each(MATRIX)('MCP server global=%s alice=%s pending_action=%s -> %s (%s, %s)', (global, alice, pendingAction, verdict, status, scope) => {
    const fp = 'mcp:0123456789abcdef';
    const mcp_servers = global === '-' ? [] : [{ fingerprint: fp, status: global, ...(alice === '-' ? {} : { users: { alice } }) }];
    const engine = engineWith(snapshot({ pending_action: pendingAction, mcp_servers }));
    expect(engine.decideMcpServer(fp, 'alice')).toMatchObject({ verdict, status, scope });
  });

  it('deny wins over approval at the same scope (duplicate entries, two user keys)', () => {
    const engine = engineWith(
      snapshot({
        pending_action: 'allow',
        apps: [
          { id: 'cursor', status: 'approved' },
          { id: 'cursor', status: 'denied' },
          { id: 'codex-cli', status: 'denied', users: { alice: 'approved', 'u-123': 'denied' } },
        ],
      }),
    );
    expect(engine.decideApp({ appId: 'cursor', osUser: 'alice' })).toMatchObject({ verdict: 'block', status: 'denied', scope: 'global' });
    expect(engine.decideApp({ appId: 'codex-cli', osUser: 'alice' })).toMatchObject({ verdict: 'allow', scope: 'user' });
    expect(engine.decideApp({ appId: 'codex-cli', osUser: 'alice', userId: 'u-123' })).toMatchObject({ verdict: 'block', status: 'denied', scope: 'user' });
  });

  it.each([
    ['open', 'allow'],
    ['closed', 'block'],
  ] as const)('with no policy at all, fail_mode %s gives %s for apps and MCP servers', (failMode, verdict) => {
    const engine = engineWith(undefined, failMode);
    for (const d of [engine.decideApp({ appId: 'claude-code', osUser: 'alice' }), engine.decideMcpServer('mcp:0123456789abcdef', 'alice')]) {
      expect(d).toMatchObject({ verdict, status: 'no_policy', scope: 'fail_mode', policyVersion: null });
    }
  });

  it('explains decisions in words', () => {
    const engine = engineWith(snapshot({ apps: [{ id: 'cursor', status: 'denied', users: { alice: 'approved' } }] }));
    expect(engine.decideApp({ appId: 'cursor', osUser: 'bob' }).reason).toBe('denied by the organization');
    expect(engine.decideApp({ appId: 'cursor', osUser: 'alice' }).reason).toBe('approved for alice by the organization');
    expect(engine.decideApp({ appId: 'x', osUser: 'bob' }).reason).toBe('not yet reviewed by the organization; pending_action is block');
  });

  it('allows an app listed in require_verified only to a verified process; deny and pending block still win', () => {
    const snap = snapshot({ pending_action: 'allow', apps: [{ id: 'claude-code', status: 'approved' }, { id: 'codex-cli', status: 'denied' }] });
    snap.settings.require_verified = ['claude-code', 'codex-cli', 'gemini-cli'];
    const engine = engineWith(snap);
    expect(engine.decideApp({ appId: 'claude-code', verified: true })).toMatchObject({ verdict: 'allow', status: 'approved' });
    const unverified = engine.decideApp({ appId: 'claude-code', verified: false });
    expect(unverified).toMatchObject({ verdict: 'block', status: 'unverified', scope: 'global', policyVersion: 1 });
    expect(unverified.reason).toBe("approved by the organization, but the organization requires a verified identity for it and this process's could not be verified");
    // Not saying counts as unverified.
    expect(engine.decideApp({ appId: 'claude-code' }).status).toBe('unverified');
    // A pending app under pending_action allow is blocked the same way: the unknown app's rules do not apply.
    expect(engine.decideApp({ appId: 'gemini-cli', verified: false })).toMatchObject({ verdict: 'block', status: 'unverified', scope: 'default' });
    expect(engine.decideApp({ appId: 'codex-cli', verified: true })).toMatchObject({ verdict: 'block', status: 'denied' });
    // Apps not listed do not need it; a snapshot without the setting requires nothing.
    expect(engine.decideApp({ appId: 'cursor', verified: false }).verdict).toBe('allow');
    expect(engineWith(snapshot({ apps: [{ id: 'claude-code', status: 'approved' }] })).decideApp({ appId: 'claude-code', verified: false }).verdict).toBe('allow');
  });

  it('answers routing per app, gateway by default', () => {
    const snap = snapshot();
    snap.settings.routing = { 'codex-cli': 'passthrough' };
    const engine = engineWith(snap);
    expect(engine.routingFor('codex-cli')).toBe('passthrough');
    expect(engine.routingFor('claude-code')).toBe('gateway');
  });
});

describe('applying snapshots', () => {
  const good = snapshot({ version: 7, apps: [{ id: 'claude-code', status: 'approved' }] });

  it.each([
    ['a status that does not exist', { ...good, version: 8, apps: [{ id: 'claude-code', status: 'maybe' }] }],
    ['a missing settings object', { version: 8, issued_at: good.issued_at, apps: [], mcp_servers: [] }],
    ['version 0', { ...good, version: 0 }],
    ['an app id with a space', { ...good, version: 8, apps: [{ id: 'claude code', status: 'denied' }] }],
    ['an MCP fingerprint too short', { ...good, version: 8, mcp_servers: [{ fingerprint: 'x', status: 'denied' }] }],
    ['not an object', 'policy'],
  ])('rejects %s and keeps the last good policy, in memory and on disk', (_what, bad) => {
    const dir = stateDir();
    const engine = new PolicyEngine({ db: openStore(dir).db });
    engine.applyPolicySnapshot(good);
    expect(() => engine.applyPolicySnapshot(bad)).toThrow(PolicyRejectedError);
    expect(engine.version()).toBe(7);
    expect(engine.decideApp({ appId: 'claude-code' }).verdict).toBe('allow');
    stores.pop()!.close();
    const reopened = new PolicyEngine({ db: openStore(dir).db });
    expect(reopened.loadCachedPolicy()?.version).toBe(7);
  });

  it('names what was wrong in the rejection', () => {
    const engine = engineWith(good);
    try {
      engine.applyPolicySnapshot({ ...good, version: 8, apps: [{ id: 'claude-code', status: 'maybe' }] });
      expect.fail('should have thrown');
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyRejectedError);
      expect((err as PolicyRejectedError).issues.join('\n')).toMatch(/apps\.0\.status/);
      expect((err as Error).message).toMatch(/keeping the last good policy/);
    }
  });

  it('refuses an older version than the one held', () => {
    const engine = engineWith(good);
    expect(() => engine.applyPolicySnapshot({ ...good, version: 6 })).toThrow(StalePolicyError);
    expect(engine.version()).toBe(7);
  });

  it('emits a change event for a new policy, none for the same one again', () => {
    const engine = engineWith(undefined);
    const changes: PolicyChange[] = [];
    engine.on('change', (c) => changes.push(c));
    expect(engine.applyPolicySnapshot(good)).toEqual({ changed: true, version: 7, previousVersion: null });
    expect(engine.applyPolicySnapshot(structuredClone(good))).toEqual({ changed: false, version: 7, previousVersion: 7 });
    engine.applyPolicySnapshot({ ...good, version: 8, apps: [] });
    expect(changes.map((c) => [c.previousVersion, c.version])).toEqual([
      [null, 7],
      [7, 8],
    ]);
  });

  it('answers the sync channel with the outcome as a value: applied, unchanged, stale or rejected', () => {
    const engine = engineWith(undefined);
    expect(engine.offerPolicySnapshot(good)).toEqual({ outcome: 'applied', version: 7, previousVersion: null });
    expect(engine.offerPolicySnapshot(structuredClone(good))).toEqual({ outcome: 'unchanged', version: 7 });
    expect(engine.offerPolicySnapshot({ ...good, version: 6 })).toEqual({ outcome: 'stale', version: 6, heldVersion: 7 });
    const rejected = engine.offerPolicySnapshot({ ...good, version: 8, apps: [{ id: 'claude-code', status: 'maybe' }] });
    expect(rejected.outcome).toBe('rejected');
    expect(rejected.outcome === 'rejected' && rejected.error).toMatch(/apps\.0\.status/);
    // The same version with other content is a change, not a replay.
    expect(engine.offerPolicySnapshot({ ...good, apps: [] })).toEqual({ outcome: 'applied', version: 7, previousVersion: 7 });
    expect(engine.version()).toBe(7);
    expect(engine.current()?.apps).toEqual([]);
  });

  it('writes a snapshot all or nothing: a failure mid-write leaves the last good one, on disk and in force', () => {
    const dir = stateDir();
    const store = openStore(dir);
    const engine = new PolicyEngine({ db: store.db });
    engine.applyPolicySnapshot(good);
    // A real write failure half-way through the items (a trigger aborts the insert of one row).
    store.db.exec(`CREATE TEMP TRIGGER fail_midway BEFORE INSERT ON policy_items WHEN NEW.item_key = 'boom' BEGIN SELECT RAISE(ABORT, 'disk trouble'); END`);
    const next = snapshot({ version: 8, apps: [{ id: 'cursor', status: 'denied' }, { id: 'boom', status: 'denied' }] });
    expect(() => engine.applyPolicySnapshot(next)).toThrow(/disk trouble/);
    expect(engine.version()).toBe(7);
    expect(engine.decideApp({ appId: 'cursor' }).scope).toBe('default');
    stores.pop()!.close();
    const reopened = new PolicyEngine({ db: openStore(dir).db });
    expect(reopened.loadCachedPolicy()).toEqual(good);
  });
});

describe('the cached policy', () => {
  it('survives a restart: the same snapshot and the same decisions after reopening the file', () => {
    const dir = stateDir();
    const snap = snapshot({
      version: 12,
      pending_action: 'allow',
      fail_mode: 'closed',
      apps: [
        { id: 'claude-code', display_name: 'Claude Code', status: 'approved', users: { mallory: 'denied' } },
        { id: 'cursor', status: 'denied' },
      ],
      mcp_servers: [{ fingerprint: 'mcp:0123456789abcdef', name: 'github', status: 'denied', users: { alice: 'approved' } }],
    });
    snap.settings.routing = { 'claude-code': 'passthrough' };
    new PolicyEngine({ db: openStore(dir).db }).applyPolicySnapshot(snap);
    stores.pop()!.close();

    const engine = new PolicyEngine({ db: openStore(dir).db, failMode: 'open' });
    expect(engine.current()).toBeUndefined();
    expect(engine.loadCachedPolicy()).toEqual(snap);
    expect(PolicySnapshotSchema.parse(engine.current())).toEqual(snap);
    expect(engine.decideApp({ appId: 'claude-code', osUser: 'alice' }).verdict).toBe('allow');
    expect(engine.decideApp({ appId: 'claude-code', osUser: 'mallory' }).verdict).toBe('block');
    expect(engine.decideApp({ appId: 'cursor' }).verdict).toBe('block');
    expect(engine.decideMcpServer('mcp:0123456789abcdef', 'alice').verdict).toBe('allow');
    expect(engine.routingFor('claude-code')).toBe('passthrough');
  });

  it('that no longer validates is not used; the organization fail_mode it remembered applies', () => {
    const dir = stateDir();
    const store = openStore(dir);
    new PolicyEngine({ db: store.db }).applyPolicySnapshot(snapshot({ version: 3, fail_mode: 'closed', apps: [{ id: 'curl', status: 'approved', users: { alice: 'approved' } }] }));
    store.db.prepare(`UPDATE policy_items SET users_json = '{"alice":"maybe"}'`).run();
    stores.pop()!.close();

    const engine = new PolicyEngine({ db: openStore(dir).db, failMode: 'open' });
    expect(engine.loadCachedPolicy()).toBeUndefined();
    expect(engine.failMode()).toBe('closed');
    expect(engine.decideApp({ appId: 'curl', osUser: 'alice' })).toMatchObject({ verdict: 'block', scope: 'fail_mode' });
  });

  it('is absent on a fresh install: the configured fail_mode applies', () => {
    const engine = new PolicyEngine({ db: openStore(stateDir()).db, failMode: 'closed' });
    expect(engine.loadCachedPolicy()).toBeUndefined();
    expect(engine.decideApp({ appId: 'curl' }).verdict).toBe('block');
  });
});
