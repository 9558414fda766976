// A small control-plane endpoint for the sync tests: a real HTTP server and real websocket server on
// loopback that speak the edge protocol (protocol/ schemas for everything received), store events
// idempotently by stream + seq like the real gateway, and can be told to misbehave.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  CLOSE_CODES,
  CONNECT_PATH,
  LIMITS,
  SUBPROTOCOL,
  closeReason,
  encodeMessage,
  parseMessage,
  type AgentMessage,
  type EdgeEvent,
  type GatewayMessage,
  type HelloMessage,
  type PolicySnapshot,
} from '../../protocol/index.ts';

export interface ReceivedConnection {
  ws: WebSocket;
  openedAt: number;
  hello?: HelloMessage;
  messages: AgentMessage[];
  closed: boolean;
}

export interface TestServerOptions {
  token: string;
  port?: number;
  policy?: PolicySnapshot;
  /** Acknowledge stored events (default true). */
  autoAck?: boolean;
  /** Answer the upgrade with this HTTP status instead of accepting. */
  rejectUpgradeWith?: number;
  /** Close every connection right after answering its hello (a gateway that accepts, then drops). */
  dropAfterHello?: boolean;
}

export function makePolicy(version: number, overrides: Partial<PolicySnapshot['settings']> = {}): PolicySnapshot {
  return {
    version,
    issued_at: new Date().toISOString(),
    apps: [{ id: 'claude-code', status: 'approved' }, { id: 'codex', status: version % 2 === 0 ? 'denied' : 'approved' }],
    mcp_servers: [],
    settings: {
      pending_action: 'allow',
      fail_mode: 'open',
      intercept: true,
      routing: {},
      full_resync_s: 300,
      allow_direct_keys: false,
      ...overrides,
    },
  };
}

export class ProtocolTestServer {
  readonly options: TestServerOptions;
  readonly connections: ReceivedConnection[] = [];
  /** Stored events per stream, keyed by seq (dedupe like the real gateway). */
  readonly stored = new Map<string, Map<number, EdgeEvent | AgentMessage>>();
  /** Every events/inventory message received, duplicates included. */
  receivedSeqs: number[] = [];
  upgradeAttempts: number[] = [];
  badMessages: string[] = [];
  policy: PolicySnapshot | undefined;
  #http: Server | undefined;
  #wss: WebSocketServer | undefined;
  port = 0;

  constructor(options: TestServerOptions) {
    this.options = options;
    this.policy = options.policy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: 2 * LIMITS.maxAgentMessageBytes,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    const http = createServer((_req, res) => {
      res.writeHead(404).end();
    });
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(wss, req, socket, head));
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.options.port ?? this.port, '127.0.0.1', () => resolve());
    });
    const address = http.address();
    if (address && typeof address === 'object') this.port = address.port;
    this.#http = http;
    this.#wss = wss;
  }

  #upgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.upgradeAttempts.push(Date.now());
    const url = new URL(req.url ?? '/', 'http://x');
    const reject = (status: number) => {
      socket.end(`HTTP/1.1 ${status} Refused\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (this.options.rejectUpgradeWith !== undefined) return reject(this.options.rejectUpgradeWith);
    if (url.pathname !== CONNECT_PATH) return reject(404);
    if (req.headers.authorization !== `Bearer ${this.options.token}`) return reject(401);
    wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws));
  }

  #accept(ws: WebSocket): void {
    const conn: ReceivedConnection = { ws, openedAt: Date.now(), messages: [], closed: false };
    this.connections.push(conn);
    ws.on('close', () => {
      conn.closed = true;
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return ws.close(CLOSE_CODES.badMessage.code, 'binary');
      const parsed = parseMessage(data, 'agent');
      if (!parsed.ok) {
        this.badMessages.push(parsed.error.message);
        ws.close(parsed.error.closeCode, closeReason(parsed.error.message));
        return;
      }
      const m = parsed.message;
      conn.messages.push(m);
      this.#handle(conn, m);
    });
  }

  #streamStore(stream: string): Map<number, EdgeEvent | AgentMessage> {
    let s = this.stored.get(stream);
    if (!s) this.stored.set(stream, (s = new Map()));
    return s;
  }

  #highest(stream: string): number {
    let max = 0;
    for (const seq of this.#streamStore(stream).keys()) max = Math.max(max, seq);
    return max;
  }

  #handle(conn: ReceivedConnection, m: AgentMessage): void {
    const send = (msg: GatewayMessage) => this.send(conn, msg);
    switch (m.type) {
      case 'hello':
        conn.hello = m;
        send({
          type: 'settings',
          server_time: new Date().toISOString(),
          heartbeat_s: 30,
          hello_timeout_s: 10,
          max_message_bytes: LIMITS.maxAgentMessageBytes,
          max_events_per_batch: LIMITS.maxEventsPerBatch,
        });
        send({ type: 'ack', outbox_stream: m.outbox_stream, seq: this.#highest(m.outbox_stream) });
        if (this.policy) send({ type: 'policy', snapshot: this.policy });
        if (this.options.dropAfterHello) conn.ws.close(CLOSE_CODES.goingAway.code, 'dropping');
        return;
      case 'events': {
        const stream = conn.hello!.outbox_stream;
        const store = this.#streamStore(stream);
        for (const e of m.events) {
          this.receivedSeqs.push(e.seq);
          if (!store.has(e.seq)) store.set(e.seq, e);
        }
        if (this.options.autoAck !== false) send({ type: 'ack', outbox_stream: stream, seq: this.#highest(stream) });
        return;
      }
      case 'inventory.apps':
      case 'inventory.mcp': {
        const stream = conn.hello!.outbox_stream;
        this.receivedSeqs.push(m.seq);
        this.#streamStore(stream).set(m.seq, m);
        if (this.options.autoAck !== false) send({ type: 'ack', outbox_stream: stream, seq: this.#highest(stream) });
        return;
      }
      case 'resync':
        if (this.policy) send({ type: 'policy', snapshot: this.policy });
        return;
      case 'ping':
        send(m.id !== undefined ? { type: 'pong', id: m.id } : { type: 'pong' });
        return;
      default:
        return;
    }
  }

  send(conn: ReceivedConnection, msg: GatewayMessage): void {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(encodeMessage(msg));
  }

  sendRaw(conn: ReceivedConnection, data: string | Buffer, binary = false): void {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(data, { binary });
  }

  /** Pushes a policy to every open connection (an admin change). */
  pushPolicy(policy: PolicySnapshot): void {
    this.policy = policy;
    for (const c of this.connections) if (!c.closed) this.send(c, { type: 'policy', snapshot: policy });
  }

  openConnections(): ReceivedConnection[] {
    return this.connections.filter((c) => !c.closed);
  }

  storedEvents(stream: string): Map<number, EdgeEvent | AgentMessage> {
    return this.#streamStore(stream);
  }

  /** Drops every connection abruptly (no close frame, like a crashed gateway) and stops listening. */
  async kill(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    await new Promise<void>((resolve) => {
      if (!this.#http) return resolve();
      this.#http.close(() => resolve());
      this.#http.closeAllConnections();
    });
    this.#wss?.close();
    this.#http = undefined;
    this.#wss = undefined;
  }

  /** Closes every connection with `code` (a restart sends 1001) and stops listening. */
  async shutdown(code = CLOSE_CODES.goingAway.code, reason = 'restarting'): Promise<void> {
    for (const c of this.connections) if (!c.closed) c.ws.close(code, reason);
    await this.kill();
  }
}

/** Polls `predicate` every 10 ms until true or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
