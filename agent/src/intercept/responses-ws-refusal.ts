// A final refusal given inside the OpenAI Responses websocket instead of on its upgrade, for the app
// whose block-table row says `responses-websocket` (Codex): the upgrade is accepted, a start-up
// prewarm completes empty, the turn's `response.create` gets `response.failed` with the sentence, and
// the socket closes. Nothing is forwarded: the gateway never sees this connection.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { RESPONSES_WEBSOCKET_REFUSAL } from '../../../protocol/index.ts';

// An app that opens the socket and never sends its turn must not keep it.
const IDLE_CLOSE_MS = 60_000;
// Frames are a few KB (the turn's whole request); anything bigger than this is not Codex's.
const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** Accepts `req`'s upgrade on `socket` and refuses its first real turn with `sentence`. */
export function refuseInResponsesWebsocket(req: http.IncomingMessage, socket: Duplex, head: Buffer, sentence: string): void {
  // One server per refusal: it holds no state beyond this upgrade, and no listener is opened.
  const server = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES });
  server.handleUpgrade(req, socket, head, (ws) => refuseTurn(ws, sentence));
}

function refuseTurn(ws: WebSocket, sentence: string): void {
  const idle = setTimeout(() => ws.terminate(), IDLE_CLOSE_MS);
  idle.unref();
  ws.on('close', () => clearTimeout(idle));
  ws.on('error', () => ws.terminate());
  ws.on('message', (data, isBinary) => {
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    const request = isBinary ? undefined : parseFrame(text);
    if (request?.type === 'response.create' && request.generate === false) {
      for (const frame of RESPONSES_WEBSOCKET_REFUSAL.prewarmCompleted(`resp_heimdall_${randomUUID()}`)) ws.send(JSON.stringify(frame));
      return;
    }
    clearTimeout(idle);
    ws.send(JSON.stringify(RESPONSES_WEBSOCKET_REFUSAL.failed(`resp_heimdall_${randomUUID()}`, sentence)));
    ws.close(1000);
  });
}

function parseFrame(text: string): { type?: unknown; generate?: unknown } | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    return value;
  } catch {
    return undefined;
  }
}
