// Builds the policy snapshot a device receives from the catalogs: every item's global status, plus
// per-OS-user exceptions for the device's enrolled users, with "deny wins".
import type { CatalogStatus, PolicyMessage, PolicySettings, PolicySnapshot } from '../../../protocol/index.ts';
import type { PolicyItem, UserDecision } from '../store/index.ts';

/** The effective status of an item for one user: a user decision applies unless either side denies. */
export function effectiveStatus(global: CatalogStatus, user: CatalogStatus | undefined): CatalogStatus {
  if (global === 'denied' || user === 'denied') return 'denied';
  return user ?? global;
}

export interface PolicyBase {
  version: number;
  issuedAt: string;
  items: readonly PolicyItem[];
  settings: PolicySettings;
  /** userId -> "kind:itemId" -> status */
  decisionsByUser: Map<string, Map<string, CatalogStatus>>;
}

export function indexUserDecisions(decisions: readonly UserDecision[]): Map<string, Map<string, CatalogStatus>> {
  const byUser = new Map<string, Map<string, CatalogStatus>>();
  for (const d of decisions) {
    let m = byUser.get(d.userId);
    if (!m) byUser.set(d.userId, (m = new Map<string, CatalogStatus>()));
    m.set(`${d.kind}:${d.itemId}`, d.status);
  }
  return byUser;
}

/**
 * The snapshot for a device whose OS users map to gateway users as `deviceUsers` (os_user -> userId).
 * Items without an exception for any of the device's users carry no `users` field.
 */
export function buildSnapshot(base: PolicyBase, deviceUsers: ReadonlyMap<string, string>): PolicySnapshot {
  const relevant: [string, Map<string, CatalogStatus>][] = [];
  for (const [osUser, userId] of deviceUsers) {
    const decisions = base.decisionsByUser.get(userId);
    if (decisions) relevant.push([osUser, decisions]);
  }
  const snapshot: PolicySnapshot = { version: base.version, issued_at: base.issuedAt, apps: [], mcp_servers: [], settings: base.settings };
  for (const item of base.items) {
    let users: Record<string, CatalogStatus> | undefined;
    for (const [osUser, decisions] of relevant) {
      const status = effectiveStatus(item.status, decisions.get(`${item.kind}:${item.id}`));
      if (status !== item.status) (users ??= {})[osUser] = status;
    }
    if (item.kind === 'app') {
      snapshot.apps.push({ id: item.id, ...(item.displayName ? { display_name: item.displayName } : {}), status: item.status, ...(users ? { users } : {}) });
    } else {
      snapshot.mcp_servers.push({ fingerprint: item.id, ...(item.displayName ? { name: item.displayName } : {}), status: item.status, ...(users ? { users } : {}) });
    }
  }
  return snapshot;
}

/** Whether any of the device's users has an exception (otherwise the shared snapshot text is reused). */
export function hasExceptions(base: PolicyBase, deviceUsers: ReadonlyMap<string, string>): boolean {
  for (const userId of deviceUsers.values()) if (base.decisionsByUser.has(userId)) return true;
  return false;
}

export function policyMessageText(snapshot: PolicySnapshot): string {
  const message: PolicyMessage = { type: 'policy', snapshot };
  return JSON.stringify(message);
}
