// The exchange auditor on a real store: every exchange becomes an outbox event and a seen-apps use,
// written in batches (after the batch delay on the injected clock, at once when a batch is full, on
// flush at shutdown, and at exit when the daemon crashes).
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createExchangeAuditor } from '../../agent/src/daemon/audit.ts';
import type { ExchangeRecord } from '../../agent/src/intercept/index.ts';
import { ManualClock } from '../../agent/src/lib/clock.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { POLICY_MIGRATIONS, SeenApps, type PolicyDecision } from '../../agent/src/policy/index.ts';
import { Store } from '../../agent/src/store/index.ts';
import { Outbox, SYNC_MIGRATIONS } from '../../agent/src/sync/index.ts';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

function setup(clock = new ManualClock()) {
  const dir = mkdtempSync(path.join(tmpdir(), 'heimdall-audit-'));
  const store = new Store({ stateDir: dir, logger: silentLogger(), migrations: [POLICY_MIGRATIONS, SYNC_MIGRATIONS] });
  cleanup.push(() => { store.close(); rmSync(dir, { recursive: true, force: true }); });
  const outbox = new Outbox({ db: store.db, logger: silentLogger() });
  const seen = new SeenApps({ db: store.db });
  const logged: string[] = [];
  const logger = { ...silentLogger(), error: (fields: object, msg: string) => { logged.push(`${msg} ${JSON.stringify(fields)}`); } } as unknown as ReturnType<typeof silentLogger>;
  const audit = createExchangeAuditor({ outbox, seen, logger, clock, batchDelayMs: 20, maxBatch: 100 });
  const events = () => store.db.prepare<[], { type: string; payload: string }>("SELECT type, payload FROM sync_outbox WHERE kind = 'event' ORDER BY seq").all();
  return { audit, seen, events, clock, dir, store, logged };
}

const APPROVED: PolicyDecision = { verdict: 'allow', status: 'approved', scope: 'global', reason: 'approved', policyVersion: 7 };
const DENIED: PolicyDecision = { verdict: 'block', status: 'denied', scope: 'user', reason: 'denied for alice', policyVersion: 8 };

function exchange(appId: string, outcome: ExchangeRecord['outcome'], status: number, decision: PolicyDecision = outcome === 'blocked' ? DENIED : APPROVED): ExchangeRecord {
  return {
    decision,
    attribution: { appId, appName: appId, appKind: 'cli', osUser: 'alice', routingMode: 'gateway' },
    host: 'api.openai.com', routeId: 'openai-api', provider: 'openai', destination: 'gateway', transport: 'https',
    method: 'POST', path: '/v1/chat/completions', status, bytesIn: 10, bytesOut: 20, latencyMs: 1.5,
    requestId: 'r', outcome, startedAt: '2026-11-22T10:00:00.000Z',
  };
}

describe('exchange auditor', () => {
  it('writes the exchanges of a batch together once the batch delay has passed', () => {
    const { audit, seen, events, clock } = setup();
    audit(exchange('codex', 'forwarded', 200));
    clock.advance(10);
    audit(exchange('codex', 'blocked', 403));
    audit(exchange('claude-code', 'forwarded', 200));
    clock.advance(9);
    expect(events()).toHaveLength(0);
    clock.advance(1);
    expect(events().map((e) => e.type)).toEqual(['request', 'block', 'request']);
    const byApp = Object.fromEntries(seen.list().map((r) => [r.appId, [r.allowedCount, r.blockedCount, r.lastVerdict]]));
    expect(byApp).toEqual({ codex: [1, 1, 'block'], 'claude-code': [1, 0, 'allow'] });
  });

  it('keeps the audit events when the seen-apps counts cannot be written, and says so', () => {
    const { audit, seen, events, clock, store, logged } = setup();
    store.db.exec("CREATE TRIGGER refuse_seen BEFORE INSERT ON seen_apps BEGIN SELECT RAISE(ABORT, 'seen_apps refused'); END");
    audit(exchange('codex', 'forwarded', 200));
    audit(exchange('codex', 'blocked', 403));
    clock.advance(20);
    expect(events().map((e) => e.type)).toEqual(['request', 'block']);
    expect(seen.list()).toEqual([]);
    expect(logged.join('\n')).toMatch(/could not count the apps of a batch of requests.*seen_apps refused/);
  });

  it('records a request whose event the protocol refuses as a use of its app, and writes the rest', () => {
    const { audit, seen, events, clock, logged } = setup();
    audit(exchange('codex', 'forwarded', 200));
    audit(exchange('Not An App Id!', 'forwarded', 200));
    clock.advance(20);
    expect(events()).toHaveLength(1);
    expect(seen.list().map((r) => [r.appId, r.allowedCount]).sort()).toEqual([['Not An App Id!', 1], ['codex', 1]]);
    expect(logged.join('\n')).toMatch(/could not record the audit event for a request/);
  });

  it('writes a full batch at once, without waiting for the delay', () => {
    const { audit, events, clock } = setup();
    for (let i = 0; i < 99; i++) audit(exchange('codex', 'forwarded', 200));
    expect(events()).toHaveLength(0);
    audit(exchange('codex', 'forwarded', 200));
    expect(events()).toHaveLength(100);
    expect(clock.pendingTimers).toBe(0);
  });

  it('loses no waiting exchange when the daemon exits on an uncaught exception in the same turn', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'heimdall-audit-crash-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const child = spawn(process.execPath, ['--no-warnings', path.join(import.meta.dirname, 'audit-crash-child.ts'), dir, '40'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, stderr).toBe(70);
    const store = new Store({ stateDir: dir, logger: silentLogger(), migrations: [POLICY_MIGRATIONS, SYNC_MIGRATIONS] });
    try {
      const rows = store.db.prepare<[], { payload: string }>("SELECT payload FROM sync_outbox WHERE kind = 'event' ORDER BY seq").all();
      expect(rows.map((r) => (JSON.parse(r.payload) as { attrs: { bytes_in: number } }).attrs.bytes_in)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(new SeenApps({ db: store.db }).list().map((r) => [r.appId, r.allowedCount])).toEqual([['codex', 40]]);
    } finally {
      store.close();
    }
  });

  it('writes what waits at once on flush (shutdown)', () => {
    const { audit, events } = setup();
    audit(exchange('codex', 'forwarded', 200));
    audit.flush();
    expect(events()).toHaveLength(1);
    expect(JSON.parse(events()[0]!.payload)).toMatchObject({ app: 'codex', os_user: 'alice', attrs: { status_code: 200, bytes_in: 10, bytes_out: 20 } });
  });

  it('writes the decision the proxy enforced, as it was when it decided', () => {
    const { audit, events } = setup();
    audit(exchange('codex', 'blocked', 403, DENIED));
    audit(exchange('claude-code', 'forwarded', 200, APPROVED));
    audit.flush();
    const attrs = events().map((e) => (JSON.parse(e.payload) as { attrs: Record<string, unknown> }).attrs);
    expect(attrs[0]).toMatchObject({ decision: 'block', status: 'denied', scope: 'user', policy_version: 8 });
    expect(attrs[1]).toMatchObject({ decision: 'allow', status: 'approved', scope: 'global', policy_version: 7 });
  });

  it('says whether the app was verified and by what, and nothing when no process was found', () => {
    const { audit, events } = setup();
    const verified = exchange('claude-code', 'forwarded', 200);
    verified.attribution = { ...verified.attribution, identityVerified: true, identityProof: 'npm-package' };
    const unverified = exchange('claude-code', 'blocked', 403);
    unverified.attribution = { ...unverified.attribution, identityVerified: false };
    audit(verified);
    audit(unverified);
    audit(exchange('unknown', 'forwarded', 200));
    audit.flush();
    const attrs = events().map((e) => (JSON.parse(e.payload) as { attrs: Record<string, unknown> }).attrs);
    expect(attrs[0]).toMatchObject({ identity: 'verified', identity_proof: 'npm-package' });
    expect(attrs[1]).toMatchObject({ identity: 'unverified' });
    expect(attrs[1]).not.toHaveProperty('identity_proof');
    expect(attrs[2]).not.toHaveProperty('identity');
  });

  it('records as a block an exchange Heimdall refused after policy allowed it (nobody signed in)', () => {
    const { audit, events } = setup();
    audit(exchange('codex', 'blocked', 401, APPROVED));
    audit.flush();
    expect(events()[0]!.type).toBe('block');
    expect(JSON.parse(events()[0]!.payload).attrs).toMatchObject({ decision: 'block', status: 'approved', policy_version: 7 });
  });
});
