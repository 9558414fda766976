// What the sync channel shows a person: the status fields `heimdall status` prints, and the one-line
// summary made of them.

export type SyncState = 'not_enrolled' | 'connecting' | 'connected' | 'backoff' | 'revoked' | 'stopped';

export interface SyncStatus {
  state: SyncState;
  /** When the state last changed (ISO 8601). */
  since: string;
  /** The last thing that went wrong, in words for a person; null when nothing has. */
  last_error: string | null;
  /** Version of the policy in force; null when none was ever applied. */
  policy_version: number | null;
  /** Seconds since the gateway last sent (or re-confirmed) that policy; null when none. */
  policy_age_s: number | null;
  /** Rows waiting for the gateway's ack. */
  outbox_depth: number;
  outbox_bytes: number;
  /** When the next reconnect attempt is due (state `backoff`), ISO 8601. */
  next_retry_at: string | null;
}

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

// One phrase per state; `now` is the moment the line is written.
const CONNECTION_TEXT: Record<SyncState, (s: SyncStatus, now: number) => string> = {
  connected: (s, now) => `connected for ${ago(s.since, now)}`,
  connecting: () => 'connecting',
  backoff: (s, now) =>
    `gateway unreachable for ${ago(s.since, now)}, retrying${s.next_retry_at ? ` in ${Math.max(0, Math.round((Date.parse(s.next_retry_at) - now) / 1000))}s` : ''}`,
  revoked: () => 'device revoked: run `heimdall login`',
  not_enrolled: () => 'not enrolled: run `heimdall login`',
  stopped: () => 'stopped',
};

/** One line for `heimdall status`: connection, policy version and age, outbox depth. */
export function describeSyncStatus(s: SyncStatus, now: number = Date.now()): string {
  const connection = CONNECTION_TEXT[s.state](s, now);
  const policy =
    s.policy_version === null
      ? 'no policy yet'
      : `policy v${s.policy_version} (from the gateway ${s.policy_age_s === null ? '?' : ago(new Date(now - s.policy_age_s * 1000).toISOString(), now)} ago)`;
  const outbox = s.outbox_depth === 0 ? 'outbox empty' : `${s.outbox_depth} report(s) waiting to upload`;
  const error = s.last_error && s.state !== 'connected' ? `; last error: ${s.last_error}` : '';
  return `${connection}; ${policy}; ${outbox}${error}`;
}
