// Approval requests (deduplicated, re-reported after a day while pending), the apps-seen table,
// audit records and the block sentence, on a real SQLite store with an injected clock.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';
import {
  ApprovalTracker,
  blockedSummary,
  blockMessage,
  blockReasonOf,
  buildAppDecisionEvent,
  POLICY_MIGRATIONS,
  PolicyEngine,
  SeenApps,
  toEdgeEvent,
  type ApprovalSubject,
  type PolicySnapshot,
} from '../../agent/src/policy/index.ts';
import { approvalRequestSchema, eventSchema } from '../../protocol/index.ts';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function openStore(dir?: string): { store: Store; dir: string } {
  const d = dir ?? mkdtempSync(path.join(tmpdir(), 'heimdall-approvals-'));
  if (!dir) dirs.push(d);
  const store = new Store({ stateDir: d, logger: silentLogger(), migrations: [POLICY_MIGRATIONS] });
  stores.push(store);
  return { store, dir: d };
}

function snapshot(version: number, apps: PolicySnapshot['apps'], pending_action: 'allow' | 'block' = 'block'): PolicySnapshot {
  return {
    version,
    issued_at: '2026-11-22T10:00:00.000Z',
    apps,
    mcp_servers: [],
    settings: { pending_action, fail_mode: 'open', intercept: true, routing: {}, full_resync_s: 300, allow_direct_keys: false },
  };
}

const HOUR = 60 * 60 * 1000;

/** A use, reported from the decision policy makes for it now (as the governor enforces it). */
function observe(at: { policy: PolicyEngine; tracker: ApprovalTracker }, subject: ApprovalSubject): ReturnType<ApprovalTracker['observe']> {
  const decision = subject.kind === 'app' ? at.policy.decideApp({ appId: subject.appId, osUser: subject.osUser }) : at.policy.decideMcpServer(subject.fingerprint, subject.osUser);
  return at.tracker.observe(subject, decision);
}

function setup(dir?: string) {
  const { store, dir: d } = openStore(dir);
  let now = new Date('2026-11-22T10:00:00.000Z');
  const clock = { advance: (ms: number) => (now = new Date(now.getTime() + ms)), now: () => now };
  const policy = new PolicyEngine({ db: store.db });
  policy.loadCachedPolicy();
  const tracker = new ApprovalTracker({ db: store.db, policy, clock: () => now });
  return { store, dir: d, policy, tracker, clock };
}

const tool = { kind: 'app' as const, appId: 'script:python3:0123456789abcdef', displayName: 'ask.py (python3)', osUser: 'alice', details: { subject: '~/tools/ask.py', matched_by: 'interpreter' } };

describe('approval requests', () => {
  it('answers repeat uses within a minute from memory, and writes the last use again after it', () => {
    const { store, policy, tracker, clock } = setup();
    policy.applyPolicySnapshot(snapshot(1, []));
    const lastSeen = (): string | undefined => store.db.prepare<[], { last_seen_at: string }>('SELECT last_seen_at FROM approval_requests').get()?.last_seen_at;
    expect(observe({ policy, tracker }, tool)).toBeDefined();
    const first = lastSeen();
    clock.advance(30_000);
    expect(observe({ policy, tracker }, tool)).toBeUndefined();
    expect(lastSeen()).toBe(first);
    // Another user is a change worth writing at once.
    expect(observe({ policy, tracker }, { ...tool, osUser: 'bob' })).toBeUndefined();
    expect(store.db.prepare<[], { os_user: string }>('SELECT os_user FROM approval_requests').get()?.os_user).toBe('bob');
    clock.advance(61_000);
    expect(observe({ policy, tracker }, { ...tool, osUser: 'bob' })).toBeUndefined();
    expect(lastSeen()).toBe(clock.now().toISOString());
  });

  it('reports an unknown app once, then again only if it is still pending a day later', () => {
    const { policy, tracker, clock } = setup();
    policy.applyPolicySnapshot(snapshot(1, []));
    const first = observe({ policy, tracker }, tool);
    expect(first).toEqual({
      type: 'approval.request',
      kind: 'app',
      app_id: tool.appId,
      display_name: 'ask.py (python3)',
      os_user: 'alice',
      details: { subject: '~/tools/ask.py', matched_by: 'interpreter' },
    });
    expect(approvalRequestSchema.safeParse(first).success).toBe(true);
    expect(observe({ policy, tracker }, tool)).toBeUndefined();
    expect(tracker.takeDue()).toEqual([]);
    clock.advance(23 * HOUR);
    expect(observe({ policy, tracker }, tool)).toBeUndefined();
    clock.advance(1 * HOUR);
    expect(observe({ policy, tracker }, tool)).toMatchObject({ app_id: tool.appId });
    expect(observe({ policy, tracker }, tool)).toBeUndefined();
    clock.advance(24 * HOUR);
    expect(tracker.takeDue().map((r) => r.kind === 'app' && r.app_id)).toEqual([tool.appId]);
    expect(tracker.takeDue()).toEqual([]);
  });

  it('does not report an app the organization decided on, and forgets one once it is decided', () => {
    const { policy, tracker, clock } = setup();
    policy.applyPolicySnapshot(snapshot(1, [{ id: 'cursor', status: 'denied' }]));
    expect(observe({ policy, tracker }, { kind: 'app', appId: 'cursor', displayName: 'Cursor', osUser: 'alice' })).toBeUndefined();
    expect(observe({ policy, tracker }, tool)).toBeDefined();
    policy.applyPolicySnapshot(snapshot(2, [{ id: tool.appId, status: 'approved' }]));
    clock.advance(48 * HOUR);
    expect(tracker.takeDue()).toEqual([]);
    // Pending again later (the admin reset it): it is a new request.
    policy.applyPolicySnapshot(snapshot(3, [{ id: tool.appId, status: 'pending' }]));
    expect(observe({ policy, tracker }, tool)).toBeDefined();
  });

  it('reports for the user when only that user has it pending', () => {
    const { policy, tracker } = setup();
    policy.applyPolicySnapshot(snapshot(1, [{ id: 'codex-cli', status: 'approved', users: { bob: 'pending' } }]));
    expect(observe({ policy, tracker }, { kind: 'app', appId: 'codex-cli', displayName: 'Codex CLI', osUser: 'alice' })).toBeUndefined();
    expect(observe({ policy, tracker }, { kind: 'app', appId: 'codex-cli', displayName: 'Codex CLI', osUser: 'bob' })).toMatchObject({ os_user: 'bob' });
  });

  it('reports MCP servers by fingerprint', () => {
    const { policy, tracker } = setup();
    policy.applyPolicySnapshot(snapshot(1, []));
    const req = observe({ policy, tracker }, { kind: 'mcp', fingerprint: 'mcp:0123456789abcdef', displayName: 'github (claude-code)' });
    expect(req).toEqual({ type: 'approval.request', kind: 'mcp', fingerprint: 'mcp:0123456789abcdef', display_name: 'github (claude-code)' });
    expect(approvalRequestSchema.safeParse(req).success).toBe(true);
  });

  it('remembers what it reported across a restart', () => {
    const first = setup();
    first.policy.applyPolicySnapshot(snapshot(1, []));
    expect(observe(first, tool)).toBeDefined();
    stores.pop()!.close();
    const again = setup(first.dir);
    expect(again.policy.version()).toBe(1);
    expect(observe(again, tool)).toBeUndefined();
  });

  it('reports unknown apps even when no policy was ever received', () => {
    const { policy, tracker } = setup();
    expect(observe({ policy, tracker }, tool)).toBeDefined();
  });
});

describe('apps seen on this machine', () => {
  it('keeps the last decision and counts of allowed and blocked requests per app', () => {
    const { store, policy } = setup();
    policy.applyPolicySnapshot(snapshot(1, [{ id: 'claude-code', status: 'approved', users: { mallory: 'denied' } }]));
    let now = new Date('2026-11-22T10:00:00.000Z');
    const seen = new SeenApps({ db: store.db, clock: () => now });
    const use = (appId: string, osUser: string) => seen.record({ appId, displayName: appId === 'claude-code' ? 'Claude Code' : 'ask.py (python3)', kind: 'cli', osUser, decision: policy.decideApp({ appId, osUser }) });
    use('claude-code', 'alice');
    use('claude-code', 'alice');
    now = new Date('2026-11-22T11:00:00.000Z');
    use('claude-code', 'mallory');
    use(tool.appId, 'alice');
    seen.record({ appId: tool.appId, displayName: 'ask.py (python3)', kind: 'sdk', subject: '~/tools/ask.py', decision: policy.decideApp({ appId: tool.appId }), requests: 4 });

    const rows = seen.list();
    expect(rows.map((r) => r.appId)).toEqual(['claude-code', tool.appId].sort());
    expect(rows.find((r) => r.appId === 'claude-code')).toMatchObject({
      displayName: 'Claude Code',
      allowedCount: 2,
      blockedCount: 1,
      lastVerdict: 'block',
      lastStatus: 'denied',
      lastOsUser: 'mallory',
      firstSeenAt: '2026-11-22T10:00:00.000Z',
      lastUsedAt: '2026-11-22T11:00:00.000Z',
    });
    expect(rows.find((r) => r.appId === tool.appId)).toMatchObject({ blockedCount: 5, subject: '~/tools/ask.py', lastOsUser: 'alice', kind: 'sdk' });
    expect(blockedSummary(store.db)).toEqual({ appsBlockedNow: 2, blockedRequests: 6 });
  });
});

describe('audit records', () => {
  it('carry who, where and what happened, never a query string', () => {
    const { policy } = setup();
    policy.applyPolicySnapshot(snapshot(4, [{ id: 'gemini-cli', status: 'denied' }]));
    const decision = policy.decideApp({ appId: 'gemini-cli', osUser: 'alice' });
    const event = buildAppDecisionEvent({
      appId: 'gemini-cli',
      osUser: 'alice',
      host: 'GenerativeLanguage.googleapis.com.',
      route: '/v1beta/models/gemini-3:streamGenerateContent?alt=sse&key=AIzaSECRET',
      decision,
      statusCode: 403,
      bytesIn: 812.7,
      bytesOut: -5,
      latencyMs: 0.4321,
      at: new Date('2026-11-22T10:00:00.000Z'),
    });
    expect(event).toEqual({
      at: '2026-11-22T10:00:00.000Z',
      appId: 'gemini-cli',
      osUser: 'alice',
      host: 'generativelanguage.googleapis.com',
      route: '/v1beta/models/gemini-3:streamGenerateContent',
      verdict: 'block',
      status: 'denied',
      scope: 'global',
      policyVersion: 4,
      statusCode: 403,
      bytesIn: 812,
      bytesOut: 0,
      latencyMs: 0.4,
    });
    const edge = toEdgeEvent(event);
    expect(JSON.stringify(edge)).not.toContain('SECRET');
    expect(edge).toMatchObject({ type: 'block', app: 'gemini-cli', os_user: 'alice', attrs: { status_code: 403, decision: 'block' } });
    expect(eventSchema.safeParse({ seq: 1, ...edge }).success).toBe(true);
    const allowed = toEdgeEvent(buildAppDecisionEvent({ appId: 'curl', host: 'api.openai.com', route: 'openai.responses', decision: policy.decideApp({ appId: 'curl' }), statusCode: 403 }));
    expect(eventSchema.safeParse({ seq: 2, ...allowed }).success).toBe(true);
  });
});

describe('block message', () => {
  it('says what happened and what to do: denied with where to ask, pending with no action needed, both with the request command', () => {
    expect(blockMessage({ appName: 'Claude Code', appId: 'claude-code', organization: 'Acme', supportUrl: 'https://help.acme.example/ai', reason: 'pending' })).toBe(
      'Claude Code is waiting for approval at Acme: your IT team has been asked to review it, and once they approve it, it will work with no action from you. ' +
        'To tell them why you need it, run `heimdall request-access claude-code --reason "why you need it"`. Help: https://help.acme.example/ai',
    );
    expect(blockMessage({ appName: 'Cursor', appId: 'cursor', organization: 'Acme', supportUrl: 'https://help.acme.example/', reason: 'denied' })).toBe(
      'Cursor is blocked at Acme: an administrator denied it. If you need it for your work, ask for access with `heimdall request-access cursor --reason "why you need it"` or at https://help.acme.example/.',
    );
    expect(blockMessage({ appName: 'curl', reason: 'no_policy' })).toBe(
      'curl cannot be used at your organization right now: the AI usage policy could not be loaded. Contact your IT team.',
    );
  });

  it('offers no command for an app id a shell would read as more than one word', () => {
    const text = blockMessage({ appName: 'x', appId: 'a; rm -rf ~', reason: 'denied' });
    expect(text).not.toContain('request-access');
    expect(text).toBe('x is blocked at your organization: an administrator denied it. If you need it for your work, ask for access from your IT team.');
  });

  it('shows no link that is not http(s), and no control characters', () => {
    const text = blockMessage({ appName: 'evil\u001b[31m\ntool', organization: 'Acme', supportUrl: 'javascript:alert(1)', reason: 'pending' });
    expect(text).toBe('evil [31m tool is waiting for approval at Acme: your IT team has been asked to review it, and once they approve it, it will work with no action from you.');
  });

  it('takes its reason from the decision', () => {
    const { policy } = setup();
    expect(blockReasonOf(policy.decideApp({ appId: 'x' }))).toBe('no_policy');
    policy.applyPolicySnapshot(snapshot(1, [{ id: 'cursor', status: 'denied' }]));
    expect(blockReasonOf(policy.decideApp({ appId: 'cursor' }))).toBe('denied');
    expect(blockReasonOf(policy.decideApp({ appId: 'x' }))).toBe('pending');
  });
});
