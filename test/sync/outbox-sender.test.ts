// The outbox sender alone, with the real outbox on a store file and a ManualClock: nothing goes out
// before the gateway's first ack, rows go in seq order within the window and the gateway's limits,
// acks delete, and new rows wait for the batching delay.
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { OutboxSender } from '../../agent/src/sync/index.ts';
import { LIMITS, eventsSchema, type AgentMessage, type EventsMessage } from '../../protocol/index.ts';
import { auditEvent } from './agent-harness.ts';
import { recordingLink, stageParts, type StageParts } from './stage-parts.ts';

const opened: StageParts[] = [];
afterEach(() => {
  for (const p of opened.splice(0)) p.close();
});

function build(options: { maxInFlight?: number; flushDelayMs?: number } = {}, parts = stageParts()) {
  opened.push(parts);
  const sender = new OutboxSender({ outbox: parts.outbox, clock: parts.clock, logger: silentLogger(), ...options });
  parts.outbox.onEnqueued(() => sender.rowsAdded());
  const link = recordingLink();
  sender.attach(link);
  return { parts, outbox: parts.outbox, sender, link };
}

const settings = (maxEvents: number) => ({
  type: 'settings' as const,
  server_time: new Date().toISOString(),
  heartbeat_s: 30,
  hello_timeout_s: 10,
  max_message_bytes: LIMITS.maxAgentMessageBytes,
  max_events_per_batch: maxEvents,
});

const seqsOf = (sent: AgentMessage[]) => sent.map((m) => (m as EventsMessage).events.map((e) => e.seq));

describe('outbox sender', () => {
  it('sends nothing until the first ack, then rows after it in seq order, a window at a time', () => {
    const { outbox, sender, link } = build({ maxInFlight: 2 });
    for (let i = 0; i < 50; i++) outbox.enqueue(auditEvent(i));
    sender.limits(settings(10));
    expect(link.sent).toEqual([]);
    // The gateway already holds 1..5 (sent on an earlier connection).
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 5 });
    expect(sender.synced).toBe(true);
    expect(seqsOf(link.sent)).toEqual([
      [6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
      [16, 17, 18, 19, 20, 21, 22, 23, 24, 25],
    ]);
    expect(outbox.firstSeq()).toBe(6);
    // An ack frees the window: the next batch goes, and what was acknowledged is deleted.
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 15 });
    expect(seqsOf(link.sent).at(-1)).toEqual([26, 27, 28, 29, 30, 31, 32, 33, 34, 35]);
    expect(outbox.firstSeq()).toBe(16);
  });

  it('ignores replayed, foreign and impossible acks', () => {
    const { outbox, sender, link } = build();
    for (let i = 0; i < 10; i++) outbox.enqueue(auditEvent(i));
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 0 });
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 4 });
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 2 });
    sender.ack({ type: 'ack', outbox_stream: 'ob-someone-else', seq: 10 });
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 1_000_000 });
    expect(outbox.firstSeq()).toBe(5);
    expect(outbox.depth().rows).toBe(6);
    expect(link.sent).toHaveLength(1);
  });

  it('sends rows added while connected together, once the batching delay has passed on the clock', () => {
    const { parts, outbox, sender, link } = build({ flushDelayMs: 50 });
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 0 });
    for (let i = 0; i < 5; i++) outbox.enqueue(auditEvent(i));
    parts.clock.advance(49);
    expect(link.sent).toEqual([]);
    parts.clock.advance(1);
    expect(seqsOf(link.sent)).toEqual([[1, 2, 3, 4, 5]]);
  });

  it('leaves rows written since the last message for the batching delay when an ack comes, so each delay sends one message', () => {
    const { parts, outbox, sender, link } = build({ flushDelayMs: 50 });
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 0 });
    for (let i = 0; i < 3; i++) outbox.enqueue(auditEvent(i));
    parts.clock.advance(50);
    expect(seqsOf(link.sent)).toEqual([[1, 2, 3]]);
    // Audit batches keep arriving while the gateway stores the first message; its ack frees the
    // window but does not send them in a message of their own.
    outbox.enqueue(auditEvent(3));
    parts.clock.advance(20);
    outbox.enqueue(auditEvent(4));
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 3 });
    expect(link.sent).toHaveLength(1);
    expect(outbox.firstSeq()).toBe(4);
    parts.clock.advance(30);
    expect(seqsOf(link.sent)).toEqual([[1, 2, 3], [4, 5]]);
  });

  it('sends the events this run enqueued as they were stored, in one message the protocol accepts', () => {
    const { outbox, sender, link } = build();
    for (let i = 0; i < 3; i++) outbox.enqueue(auditEvent(i));
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 0 });
    expect(link.sent).toEqual([{ type: 'events', seq_from: 1, events: [0, 1, 2].map((i) => ({ seq: i + 1, ...auditEvent(i) })) }]);
    expect(eventsSchema.safeParse(link.sent[0]).success).toBe(true);
  });

  it('checks rows an earlier run wrote before sending them: one that fails the protocol now becomes a gap, the rest go', () => {
    const first = stageParts();
    // An older version stored an event today's schema refuses (an upper-case type).
    first.store.db.prepare("INSERT INTO sync_outbox (kind, type, payload, bytes, created_at) VALUES ('event', 'Odd', ?, 40, ?)")
      .run(JSON.stringify({ type: 'Odd Type', at: '2026-01-01T00:00:00.000Z' }), '2026-01-01T00:00:00.000Z');
    first.outbox.enqueue(auditEvent(1));
    const { outbox, sender, link } = build({}, first.reopen());
    expect(outbox.checkedAfter).toBe(2);
    outbox.enqueue(auditEvent(2));
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 0 });
    const sent = link.sent.flatMap((m) => (m as EventsMessage).events.map((e) => [e.seq, e.type, e.attrs?.['count'] ?? e.attrs?.['i']]));
    expect(sent).toEqual([[1, 'gap', 1], [2, 'request', 1], [3, 'request', 2]]);
  });

  it('sends an inventory report as its own message with its seq', () => {
    const { outbox, sender, link } = build();
    outbox.enqueue(auditEvent(1));
    outbox.enqueueInventory({ type: 'inventory.apps', apps: [{ app_id: 'codex' }] });
    outbox.enqueue(auditEvent(2));
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 0 });
    expect(link.sent.map((m) => m.type)).toEqual(['events', 'inventory.apps', 'events']);
    expect(link.sent[1]).toEqual({ type: 'inventory.apps', seq: 2, apps: [{ app_id: 'codex' }] });
  });

  it('stops sending on a connection it was detached from, and starts afresh on the next', () => {
    const { parts, outbox, sender, link } = build();
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 0 });
    outbox.enqueue(auditEvent(1));
    sender.detach();
    expect(sender.synced).toBe(false);
    parts.clock.advance(1000);
    expect(link.sent).toEqual([]);
    const next = recordingLink();
    sender.attach(next);
    sender.ack({ type: 'ack', outbox_stream: outbox.stream, seq: 0 });
    expect(seqsOf(next.sent)).toEqual([[1]]);
  });
});
