// parseMessage is the single gate every websocket message passes; these are the shapes that must and must not pass.
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, LIMITS, closeReason, parseMessage, reconnectDelayMs } from '../../protocol/index.ts';

const hello = {
  type: 'hello',
  device_id: 'dev-1',
  hostname: 'alice-mbp',
  os: 'darwin',
  os_version: '15.1',
  arch: 'arm64',
  agent_version: '0.1.0',
  users: [{ os_user: 'alice', user_id: 'u_1' }],
  policy_version: null,
  outbox_stream: 'st-abc',
  outbox_first_seq: 1,
};

const event = (seq: number, extra: Record<string, unknown> = {}) => ({ seq, type: 'request', at: '2025-01-01T00:00:00.000Z', app: 'claude-code', ...extra });

describe('parseMessage', () => {
  it('accepts a valid hello and drops unknown fields', () => {
    const r = parseMessage(JSON.stringify({ ...hello, future_field: 1 }), 'agent');
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.message.type).toBe('hello');
      expect(r.message).not.toHaveProperty('future_field');
    }
  });

  it('names the field that is wrong', () => {
    const r = parseMessage(JSON.stringify({ ...hello, os: 'beos' }), 'agent');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.kind).toBe('invalid');
      expect(r.error.path).toBe('os');
      expect(r.error.message).toMatch(/^hello\.os: /);
      expect(r.error.closeCode).toBe(CLOSE_CODES.badMessage.code);
    }
  });

  it('refuses non-JSON, non-objects, missing and unknown types', () => {
    const cases: [string, string][] = [
      ['{', 'not_json'],
      ['[1]', 'not_object'],
      ['null', 'not_object'],
      ['{"id":"x"}', 'invalid'],
      ['{"type":"policy"}', 'unknown_type'], // a gateway message sent by an agent
      ['{"type":"__proto__"}', 'unknown_type'],
    ];
    for (const [text, kind] of cases) {
      const r = parseMessage(text, 'agent');
      expect(r.ok, text).toBe(false);
      if (!r.ok) expect(r.error.kind, text).toBe(kind);
    }
  });

  it('refuses a message over the size limit with 4413 before parsing it', () => {
    const big = JSON.stringify({ type: 'ping', pad: 'x'.repeat(LIMITS.maxAgentMessageBytes) });
    const r = parseMessage(big, 'agent');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ kind: 'too_large', closeCode: 4413 });
  });

  it('refuses a batch of more than 512 events with 4413', () => {
    const events = Array.from({ length: LIMITS.maxEventsPerBatch + 1 }, (_, i) => event(i + 1));
    const r = parseMessage(JSON.stringify({ type: 'events', seq_from: 1, events }), 'agent');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.closeCode).toBe(4413);
  });

  it('refuses events whose seqs do not strictly increase, naming the event', () => {
    const r = parseMessage(JSON.stringify({ type: 'events', seq_from: 1, events: [event(1), event(3), event(3)] }), 'agent');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toBe('events.events[2].seq: seq 3 does not follow 3: seqs must strictly increase');
  });

  it('refuses a seq_from that is not the first seq', () => {
    const r = parseMessage(JSON.stringify({ type: 'events', seq_from: 2, events: [event(1)] }), 'agent');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.path).toBe('seq_from');
  });

  it('requires a positive count on gap events', () => {
    const bad = parseMessage(JSON.stringify({ type: 'events', seq_from: 5, events: [{ seq: 5, type: 'gap', at: '2025-01-01T00:00:00Z' }] }), 'agent');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.path).toBe('events[0].attrs.count');
    const good = parseMessage(JSON.stringify({ type: 'events', seq_from: 5, events: [{ seq: 5, type: 'gap', at: '2025-01-01T00:00:00Z', attrs: { count: 40 } }] }), 'agent');
    expect(good.ok).toBe(true);
  });

  it('parses both kinds of approval.request and both kinds of cert', () => {
    expect(parseMessage(JSON.stringify({ type: 'approval.request', kind: 'app', app_id: 'cursor', display_name: 'Cursor' }), 'agent').ok).toBe(true);
    expect(parseMessage(JSON.stringify({ type: 'approval.request', kind: 'mcp', fingerprint: 'abcdef0123', display_name: 'github' }), 'agent').ok).toBe(true);
    expect(parseMessage(JSON.stringify({ type: 'approval.request', kind: 'mcp', app_id: 'x', display_name: 'y' }), 'agent').ok).toBe(false);
    expect(parseMessage(JSON.stringify({ type: 'cert', id: 'c1', ok: false, error: { code: 'no_ca', message: 'no CA' } }), 'gateway').ok).toBe(true);
    expect(parseMessage(JSON.stringify({ type: 'cert', id: 'c1', ok: true }), 'gateway').ok).toBe(false);
  });

  it('parses a policy snapshot from the gateway', () => {
    const policy = {
      type: 'policy',
      snapshot: {
        version: 3,
        issued_at: '2025-01-01T00:00:00.000Z',
        apps: [{ id: 'claude-code', status: 'approved', users: { bob: 'denied' } }],
        mcp_servers: [{ fingerprint: 'fp-0123456789', status: 'pending' }],
        settings: { pending_action: 'allow', fail_mode: 'open', intercept: true, routing: { codex: 'passthrough' }, full_resync_s: 300, allow_direct_keys: false },
      },
    };
    expect(parseMessage(JSON.stringify(policy), 'gateway').ok).toBe(true);
  });
});

describe('closeReason', () => {
  it('fits any message into the 123 bytes a close frame allows', () => {
    const reason = closeReason('é'.repeat(200));
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    expect(reason.endsWith('...')).toBe(true);
    expect(closeReason('short')).toBe('short');
  });
});

describe('reconnectDelayMs', () => {
  it('uses full jitter under a ceiling that doubles from 1 s to 60 s', () => {
    expect(reconnectDelayMs(0, () => 0.999)).toBe(999);
    expect(reconnectDelayMs(3, () => 0.5)).toBe(4000);
    expect(reconnectDelayMs(10, () => 0.999)).toBe(59_940);
    expect(reconnectDelayMs(1000, () => 0)).toBe(0);
  });
});
