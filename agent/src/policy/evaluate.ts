// Decision rules, pure: a user-scoped entry overrides the global one; at the same scope deny wins over
// approval, approval over pending; an item missing from the catalog is pending; pending follows the
// organization's pending_action; no valid policy follows fail_mode. An app the organization lists in
// require_verified is allowed only to a process whose identity was verified: an unverified claimant
// is blocked with its own status, not treated as another app (as the unknown app it would fall to
// pending_action, which may be allow: the copy would pass either way).
import type { CatalogStatus, FailMode, PolicyDecision, PolicySnapshot } from './schema.ts';

interface IndexedItem {
  status: CatalogStatus;
  users: Map<string, CatalogStatus>;
}

export interface PolicyIndex {
  snapshot: PolicySnapshot;
  apps: Map<string, IndexedItem>;
  mcpServers: Map<string, IndexedItem>;
}

const STRENGTH: Record<CatalogStatus, number> = { pending: 0, approved: 1, denied: 2 };

function stronger(a: CatalogStatus | undefined, b: CatalogStatus): CatalogStatus {
  return a === undefined || STRENGTH[b] > STRENGTH[a] ? b : a;
}

function indexItems(items: readonly { key: string; status: CatalogStatus; users?: Record<string, CatalogStatus> | undefined }[]): Map<string, IndexedItem> {
  const index = new Map<string, IndexedItem>();
  for (const item of items) {
    // The same id twice in one snapshot is merged, the stronger status winning at each scope.
    const entry = index.get(item.key);
    const merged: IndexedItem = entry ?? { status: item.status, users: new Map() };
    merged.status = stronger(entry?.status, item.status);
    for (const [user, status] of Object.entries(item.users ?? {})) merged.users.set(user, stronger(merged.users.get(user), status));
    index.set(item.key, merged);
  }
  return index;
}

export function indexSnapshot(snapshot: PolicySnapshot): PolicyIndex {
  return {
    snapshot,
    apps: indexItems(snapshot.apps.map((a) => ({ key: a.id, status: a.status, users: a.users }))),
    mcpServers: indexItems(snapshot.mcp_servers.map((m) => ({ key: m.fingerprint, status: m.status, users: m.users }))),
  };
}

export interface Subject {
  /** The OS account behind the connection, and the signed-in person's gateway id when known. */
  osUser?: string | undefined;
  userId?: string | undefined;
  /** Apps only: whether the process was proved to be the app (identify's verification). */
  verified?: boolean | undefined;
}

export function decide(index: PolicyIndex | undefined, items: 'apps' | 'mcpServers', key: string, subject: Subject, failMode: FailMode): PolicyDecision {
  if (!index) {
    return {
      verdict: failMode === 'open' ? 'allow' : 'block',
      status: 'no_policy',
      scope: 'fail_mode',
      reason: `no valid policy received from the organization yet; fail_mode is ${failMode}`,
      policyVersion: null,
    };
  }
  const { settings, version } = index.snapshot;
  const item = index[items].get(key);
  const who = [subject.osUser, subject.userId].filter((u): u is string => u !== undefined && u !== '');
  let userStatus: CatalogStatus | undefined;
  let userKey: string | undefined;
  for (const u of who) {
    const s = item?.users.get(u);
    if (s !== undefined && stronger(userStatus, s) !== userStatus) {
      userStatus = s;
      userKey = u;
    }
  }
  const [status, scope] = userStatus !== undefined ? [userStatus, 'user' as const] : item ? [item.status, 'global' as const] : ['pending' as const, 'default' as const];
  const forWhom = scope === 'user' ? ` for ${userKey}` : '';
  if (status === 'denied') return { verdict: 'block', status, scope, reason: `denied${forWhom} by the organization`, policyVersion: version };
  const allowed: PolicyDecision =
    status === 'approved'
      ? { verdict: 'allow', status, scope, reason: `approved${forWhom} by the organization`, policyVersion: version }
      : {
          verdict: settings.pending_action,
          status,
          scope,
          reason: `${scope === 'default' ? 'not yet reviewed by the organization' : `pending review${forWhom}`}; pending_action is ${settings.pending_action}`,
          policyVersion: version,
        };
  if (allowed.verdict === 'allow' && items === 'apps' && subject.verified !== true && settings.require_verified?.includes(key) === true) {
    return { verdict: 'block', status: 'unverified', scope, reason: `${allowed.reason}, but the organization requires a verified identity for it and this process's could not be verified`, policyVersion: version };
  }
  return allowed;
}
