import { describe, expect, it } from 'vitest';
import { helperMessage } from '../../agent/src/cli/commands/helper.ts';
import type { DaemonStatus } from '../../agent/src/daemon/index.ts';

function status(signedIn: { os_user: string; email: string | null }[], signInCommand?: string): DaemonStatus {
  return {
    agent: { version: '0.1.0', pid: 1, started_at: '', uptime_s: 1, platform: 'linux', node: '22' },
    device_id: 'd', state_dir: '/var/lib/heimdall', governed: true, reason: 'governed', reasons: [], blockers: [],
    signed_in_users: signedIn.map((u) => u.os_user),
    config: { values: { organization: 'Acme' } as DaemonStatus['config']['values'], origins: {}, problems: [] },
    sections: { users: { signed_in: signedIn, summary: '', ...(signInCommand ? { sign_in_command: signInCommand } : {}) } },
  };
}

describe('heimdall helper', () => {
  it('tells a signed-in person who they are signed in as', () => {
    expect(helperMessage(status([{ os_user: 'alice', email: 'alice@acme.example' }]), 'alice')).toEqual({ code: 0, text: "Heimdall: your AI apps are signed in to your organization's AI gateway (Acme) as alice@acme.example." });
  });
  it('tells someone else how to sign in, with the not-signed-in exit code', () => {
    const m = helperMessage(status([{ os_user: 'alice', email: null }]), 'bob');
    expect(m.code).toBe(4);
    expect(m.text).toContain('heimdall login');
  });
  it('names the way this organization signs in, as the daemon says it (a virtual key where there is no SSO)', () => {
    const m = helperMessage(status([], '`heimdall login --virtual-key` with the key IT gave you'), 'bob');
    expect(m).toEqual({ code: 4, text: "Heimdall: you are not signed in to your organization's AI gateway (Acme). To sign in, run `heimdall login --virtual-key` with the key IT gave you." });
  });
  it('says the daemon is not running when it did not answer', () => {
    expect(helperMessage(undefined, 'bob').code).toBe(3);
  });
});
