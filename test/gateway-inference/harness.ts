// Test harness: the inference handler mounted in a real HTTP server on loopback, in front of the
// DEMO upstream (or any other upstream a test starts), with an in-test virtual key table.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pino } from 'pino';
import type { Clock } from '../../lib/index.ts';
import { startDemoUpstream, type DemoUpstream } from '../../gateway/src/demo-upstream/index.ts';
import {
  createInferenceHandler,
  type InferenceAuditEvent,
  type InferenceHandler,
  type InferenceSection,
  loadProviderConfig,
} from '../../gateway/src/inference/index.ts';

export const VK = 'sk-bf-test-alice-0123456789';
/** A device token the harness's gateway accepts for device `dev-7f3a`, and one of a revoked device. */
export const DEVICE_TOKEN = 'hdt_harness-device-token-7f3a-0123456789';
export const REVOKED_DEVICE_TOKEN = 'hdt_harness-revoked-device-token-0123456';
export const VK_BOB = 'sk-bf-test-bob-0123456789';
export const PROVIDER_KEYS = { openai: 'prov-openai-secret-1111', anthropic: 'prov-anthropic-secret-2222', genai: 'prov-genai-secret-3333' };
export const NATIVE_KEYS = { openai: 'sk-native-openai-4444', anthropic: 'sk-ant-native-5555', genai: 'native-genai-6666', chatgpt: 'chatgpt-user-token-7777' };
export const ENV = { T_OPENAI_KEY: PROVIDER_KEYS.openai, T_ANTHROPIC_KEY: PROVIDER_KEYS.anthropic, T_GENAI_KEY: PROVIDER_KEYS.genai };

export interface KeyRow {
  keyId: string;
  userId: string;
  userEmail?: string;
  revoked: boolean;
}

export interface Gateway {
  url: string;
  handler: InferenceHandler;
  events: InferenceAuditEvent[];
  keys: Map<string, KeyRow>;
  directKeys: { allowed: boolean };
  /** Waits until at least `n` audit events were recorded (they land when a response has ended). */
  waitForEvents(n: number): Promise<InferenceAuditEvent[]>;
  /** Client connections the gateway's server still holds open. */
  openConnections(): number;
  close(): Promise<void>;
}

export async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Starts the gateway's inference handler in a real server with the given `inference` config section. */
export async function startGateway(section: InferenceSection, env: NodeJS.ProcessEnv = ENV, options: { beforeVerify?: () => Promise<void>; clock?: Clock } = {}): Promise<Gateway> {
  const events: InferenceAuditEvent[] = [];
  // Waiters for "n events recorded", woken by each record instead of polling on a timer.
  let waiters: { n: number; resolve: () => void }[] = [];
  const keys = new Map<string, KeyRow>([
    [VK, { keyId: 'vk-alice', userId: 'user-alice', userEmail: 'alice@example.com', revoked: false }],
    [VK_BOB, { keyId: 'vk-bob', userId: 'user-bob', revoked: false }],
  ]);
  const directKeys = { allowed: false };
  const handler = createInferenceHandler({
    verifyVirtualKey: async (key) => {
      // A store lookup takes time; a test that needs a client to leave meanwhile holds it open here.
      if (options.beforeVerify) await options.beforeVerify();
      const row = keys.get(key);
      return row && !row.revoked ? { keyId: row.keyId, userId: row.userId, ...(row.userEmail ? { userEmail: row.userEmail } : {}) } : undefined;
    },
    // The agent's device token: one known device; anything else is refused (403 for the revoked one).
    verifyDeviceToken: (token) =>
      Promise.resolve(
        token === DEVICE_TOKEN
          ? { ok: true as const, deviceId: 'dev-7f3a' }
          : token === REVOKED_DEVICE_TOKEN
            ? { ok: false as const, status: 403 as const, message: 'this device was revoked by an administrator' }
            : { ok: false as const, status: 401 as const, message: 'the device token is not valid' },
      ),
    allowDirectKeys: () => directKeys.allowed,
    recordInference: (e) => {
      events.push(e);
      waiters = waiters.filter((w) => (events.length >= w.n ? (w.resolve(), false) : true));
    },
    providers: loadProviderConfig(section, { env, source: 'test config' }),
    logger: pino({ level: 'silent' }),
    supportUrl: 'https://help.example.com/ai',
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const server = http.createServer((req, res) => {
    if (!handler.handleRequest(req, res)) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not an inference route');
    }
  });
  server.on('upgrade', (req, socket, head) => {
    if (!handler.handleUpgrade(req, socket, head)) socket.destroy();
  });
  const connections = new Set<Socket>();
  server.on('connection', (socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
  });
  const url = await listen(server);
  return {
    url,
    handler,
    openConnections: () => connections.size,
    events,
    keys,
    directKeys,
    async waitForEvents(n) {
      if (events.length < n) await new Promise<void>((resolve) => waiters.push({ n, resolve }));
      return events;
    },
    async close() {
      handler.close();
      await closeServer(server);
    },
  };
}

/** The usual setup: every provider pointed at the DEMO upstream with the test keys. */
export async function startGatewayWithDemo(options: { chunkDelayMs?: number; acceptNative?: boolean } = {}): Promise<{ gateway: Gateway; demo: DemoUpstream; close(): Promise<void> }> {
  const accept = (p: keyof typeof NATIVE_KEYS, key?: string) => (options.acceptNative ? [...(key ? [key] : []), NATIVE_KEYS[p]] : key ? [key] : []);
  const demo = await startDemoUpstream({
    chunkDelayMs: options.chunkDelayMs ?? 5,
    keys: {
      openai: accept('openai', PROVIDER_KEYS.openai),
      anthropic: accept('anthropic', PROVIDER_KEYS.anthropic),
      genai: accept('genai', PROVIDER_KEYS.genai),
      chatgpt: accept('chatgpt'),
    },
  });
  const gateway = await startGateway({
    providers: {
      openai: { base_url: demo.url, api_key: 'env.T_OPENAI_KEY' },
      anthropic: { base_url: demo.url, api_key: 'env.T_ANTHROPIC_KEY' },
      genai: { base_url: demo.url, api_key: 'env.T_GENAI_KEY' },
      chatgpt: { base_url: demo.url },
    },
  });
  return {
    gateway,
    demo,
    async close() {
      await gateway.close();
      await demo.close();
    },
  };
}

export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  // Tests read whatever JSON a provider or the gateway returned; its shape is what they assert.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}
