// The outbox sender stage: after the gateway's first ack on a connection says where it stands, rows
// after that point go out in seq order, a window of messages in flight at a time, events batched up
// to the gateway's limits; each ack deletes what the gateway stored. New rows wait a moment
// (`flushDelayMs`) so a session's requests travel as one batch.
import { LIMITS, eventSchema, inventoryAppsSchema, inventoryMcpSchema } from '../../../protocol/index.ts';
import type { AckMessage, AgentMessage, SettingsMessage } from '../../../protocol/index.ts';
import type { Clock, ClockTimer } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Link } from './connection.ts';
import type { Outbox, OutboxEntry } from './outbox.ts';

export interface OutboxSenderOptions {
  outbox: Outbox;
  clock: Clock;
  logger: Logger;
  /** Outbox messages sent and not yet acknowledged (default 8). */
  maxInFlight?: number;
  /** How long new outbox rows wait to be sent with the ones after them (default 50 ms). */
  flushDelayMs?: number;
}

/** What the sender knows about the connection it sends on; a new connection starts afresh. */
interface Session {
  link: Link;
  /** The first ack after hello arrived: the gateway told us where it stands, sending may start. */
  synced: boolean;
  /** Highest seq sent on this connection. */
  cursor: number;
  /** Last seq of each outbox message sent and not yet acknowledged, in order. */
  inFlight: number[];
  lastAck: number;
  maxMessageBytes: number;
  maxEventsPerBatch: number;
  flushTimer: ClockTimer | undefined;
  /** The last flush stopped with rows left for want of room (window or socket buffer): an ack sends them at once. */
  backlog: boolean;
}

const DEFAULT_FLUSH_DELAY_MS = 50;
const DEFAULT_MAX_IN_FLIGHT = 8;
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const BATCH_ENVELOPE_BYTES = 128;
const PER_EVENT_SEQ_BYTES = 24;

export class OutboxSender {
  readonly #o: OutboxSenderOptions;
  #session: Session | undefined;

  constructor(options: OutboxSenderOptions) {
    this.#o = options;
  }

  /** True once the gateway's first ack on the current connection arrived. */
  get synced(): boolean {
    return this.#session?.synced ?? false;
  }

  /** A new connection: nothing is sent on it until its first ack. */
  attach(link: Link): void {
    this.detach();
    this.#session = {
      link,
      synced: false,
      cursor: 0,
      inFlight: [],
      lastAck: 0,
      maxMessageBytes: LIMITS.maxAgentMessageBytes,
      maxEventsPerBatch: LIMITS.maxEventsPerBatch,
      flushTimer: undefined,
      backlog: false,
    };
  }

  detach(): void {
    if (this.#session) this.#o.clock.clearTimeout(this.#session.flushTimer);
    this.#session = undefined;
  }

  /** The gateway's limits for this connection, never above the protocol's own. */
  limits(settings: SettingsMessage): void {
    const s = this.#session;
    if (!s) return;
    s.maxMessageBytes = Math.min(settings.max_message_bytes, LIMITS.maxAgentMessageBytes);
    s.maxEventsPerBatch = Math.min(settings.max_events_per_batch, LIMITS.maxEventsPerBatch);
  }

  /** Acks are cumulative: everything up to `seq` is stored at the gateway. A replayed, foreign or impossible one changes nothing. */
  ack(ack: AckMessage): void {
    const s = this.#session;
    if (!s) return;
    const outbox = this.#o.outbox;
    if (ack.outbox_stream !== outbox.stream) {
      this.#o.logger.warn('sync channel: ack for another outbox stream; ignored');
      return;
    }
    if (ack.seq > outbox.lastAssignedSeq()) {
      this.#o.logger.warn({ seq: ack.seq, last_assigned: outbox.lastAssignedSeq() }, 'sync channel: ack beyond any seq this agent assigned; ignored');
      return;
    }
    const first = !s.synced;
    s.synced = true;
    if (ack.seq > s.lastAck || first) {
      s.lastAck = Math.max(s.lastAck, ack.seq);
      if (ack.seq > 0) outbox.ack(ack.seq);
      while (s.inFlight.length > 0 && s.inFlight[0]! <= ack.seq) s.inFlight.shift();
      // After hello the gateway may already hold more than we sent on this connection.
      s.cursor = Math.max(s.cursor, ack.seq);
    }
    // Rows written since the last message wait for the batching delay (rowsAdded armed it), as if no
    // ack had come: sending them on each ack made one message, one ack and one outbox DELETE per audit
    // batch (every 20 ms) instead of one per batching delay (issue 22). Only the first ack, and rows
    // that were held back for want of room, go at once.
    if (first || s.backlog) this.#flush(s);
  }

  /** New rows in the outbox: send them (and whatever follows within the delay) a moment from now. */
  rowsAdded(): void {
    const s = this.#session;
    if (!s || !s.synced || s.flushTimer) return;
    // Events are written to the outbox as requests end; sending them a moment later lets a session's
    // requests go out as one batch (one read, one message, one ack) instead of one each, which
    // costs the machine an outbox read, a frame and an ack per request.
    s.flushTimer = this.#o.clock.setTimeout(() => {
      s.flushTimer = undefined;
      this.#flush(s);
    }, this.#o.flushDelayMs ?? DEFAULT_FLUSH_DELAY_MS);
    s.flushTimer.unref();
  }

  /** Sends outbox rows after the cursor, in seq order, while the in-flight window has room. */
  #flush(s: Session): void {
    const window = this.#o.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    s.backlog = false;
    while (this.#session === s && !s.link.ended && s.synced) {
      if (s.inFlight.length >= window || s.link.bufferedBytes() >= MAX_BUFFERED_BYTES) {
        s.backlog = true;
        return;
      }
      const rows = this.#o.outbox.pendingAfter(s.cursor, s.maxEventsPerBatch);
      if (rows.length === 0) return;
      const message = this.#nextMessage(s, rows);
      if (!message) continue; // rows were quarantined; look again
      if (!message.send(s.link)) return;
      s.cursor = message.lastSeq;
      s.inFlight.push(message.lastSeq);
    }
  }

  #nextMessage(s: Session, rows: OutboxEntry[]): { send(link: Link): boolean; lastSeq: number } | undefined {
    const head = rows[0]!;
    if (head.kind !== 'event') {
      const body = { ...(JSON.parse(head.payload) as object), seq: head.seq } as AgentMessage;
      const schema = head.kind === 'inventory.apps' ? inventoryAppsSchema : inventoryMcpSchema;
      if (!schema.safeParse(body).success) {
        this.#o.outbox.quarantine([head.seq], `${head.kind} report fails the protocol`);
        return undefined;
      }
      return { send: (link) => link.send(body), lastSeq: head.seq };
    }
    // Events go out as stored: each row's JSON with its seq put in front, joined into the message's
    // text, with no parse and no schema check for rows this run wrote (checked when enqueued, at the
    // edge). Parsing, checking and encoding each event again cost more CPU than writing it (issue 22).
    const checkedAfter = this.#o.outbox.checkedAfter;
    const parts: string[] = [];
    const bad: number[] = [];
    let lastSeq = 0;
    let bytes = BATCH_ENVELOPE_BYTES;
    for (const row of rows) {
      if (row.kind !== 'event') break;
      if (parts.length >= s.maxEventsPerBatch || bytes + row.bytes + PER_EVENT_SEQ_BYTES > s.maxMessageBytes) break;
      if (row.seq <= checkedAfter && !eventSchema.safeParse({ ...(JSON.parse(row.payload) as object), seq: row.seq }).success) {
        bad.push(row.seq);
        continue;
      }
      parts.push(withSeq(row.payload, row.seq));
      lastSeq = row.seq;
      bytes += row.bytes + PER_EVENT_SEQ_BYTES;
    }
    if (bad.length > 0) {
      this.#o.outbox.quarantine(bad, 'event fails the protocol');
      return undefined;
    }
    if (parts.length === 0) {
      // Cannot happen: every event is at most MAX_EVENT_BYTES, far below any message limit.
      this.#o.outbox.quarantine([head.seq], `event larger than the gateway's message limit of ${s.maxMessageBytes} bytes`);
      return undefined;
    }
    const text = `{"type":"events","seq_from":${head.seq},"events":[${parts.join(',')}]}`;
    return { send: (link) => link.sendEncoded(text), lastSeq };
  }
}

/** A stored event (a JSON object without its seq, at least its `type`) with `"seq":N` as its first member. */
function withSeq(payload: string, seq: number): string {
  return `{"seq":${seq},${payload.slice(1)}`;
}
