// Real parts for gateway tests: a gateway on a temp data dir and an ephemeral loopback port, an
// HTTP client for the admin API, and a protocol-speaking websocket peer that records what it gets.
// Admin answers are typed `any` on purpose: tests read the JSON the way any HTTP client would.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { silentLogger } from '../../lib/index.ts';
import { CHALLENGE_PATH, CONNECT_PATH, ENROLL_PATH, SUBPROTOCOL, TOKEN_PATH, deviceProofText, type DeviceProofPurpose, type GatewayMessage } from '../../protocol/index.ts';
import { startGateway, type GatewayOptions, type RunningGateway } from '../../gateway/src/server.ts';

export interface TestGateway extends RunningGateway {
  dataDir: string;
  /** The admin token as the local CLI reads it (from the 0600 file). */
  adminToken: string;
  admin: <T = any>(method: string, pathAndQuery: string, body?: unknown, token?: string) => Promise<{ status: number; body: T }>;
  wsUrl: string;
  stop: () => Promise<void>;
}

export async function startTestGateway(overrides: Partial<GatewayOptions> & { dataDir?: string } = {}): Promise<TestGateway> {
  const dataDir = overrides.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-'));
  const gw = await startGateway({ host: '127.0.0.1', port: 0, logger: silentLogger(), ...overrides, dataDir });
  const adminToken = readFileSync(gw.adminTokenFile, 'utf8').trim();
  const admin = async (method: string, pathAndQuery: string, body?: unknown, token = adminToken) => {
    const res = await fetch(`${gw.url}/admin/v1/${pathAndQuery}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  return {
    ...gw,
    dataDir,
    adminToken,
    admin,
    wsUrl: `${gw.url.replace(/^http/, 'ws')}${CONNECT_PATH}`,
    stop: async () => {
      await gw.close();
      if (!overrides.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function createKey(gw: TestGateway, email: string): Promise<{ id: string; key: string }> {
  const r = await gw.admin('POST', 'keys', { user_email: email });
  if (r.status !== 201) throw new Error(`key creation failed: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A device key pair as the agent makes one (Ed25519), held by the test. */
export interface TestDeviceKey {
  publicKey: string;
  privateKey: KeyObject;
}

export function newDeviceKey(): TestDeviceKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'), privateKey };
}

// The key each device id uses unless a test passes another: the same machine keeps its key.
const deviceKeys = new Map<string, TestDeviceKey>();
export function deviceKeyFor(deviceId: string): TestDeviceKey {
  let key = deviceKeys.get(deviceId);
  if (!key) deviceKeys.set(deviceId, (key = newDeviceKey()));
  return key;
}

async function postJson(gw: { url: string }, pathname: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${gw.url}${pathname}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/** A gateway challenge signed by `key` for `purpose` and `deviceId`. */
export async function signedChallenge(gw: { url: string }, purpose: DeviceProofPurpose, deviceId: string, key: TestDeviceKey): Promise<{ challenge: string; signature: string }> {
  const { body } = await postJson(gw, CHALLENGE_PATH, {});
  const challenge = body.challenge as string;
  return { challenge, signature: sign(null, deviceProofText(purpose, challenge, deviceId), key.privateKey).toString('base64') };
}

/** Enrolls `deviceId` the way the agent does: a virtual key plus the device key's signature of a fresh challenge. */
export async function enroll(gw: { url: string }, virtualKey: string, deviceId: string, osUser = 'alice', key: TestDeviceKey = deviceKeyFor(deviceId)): Promise<{ status: number; body: any }> {
  const proof = await signedChallenge(gw, 'enroll', deviceId, key);
  return postJson(gw, ENROLL_PATH, {
    virtual_key: virtualKey,
    device: { device_id: deviceId, hostname: `${deviceId}-host`, os: 'linux', os_version: '6.1', arch: 'x64', agent_version: '0.1.0' },
    os_user: osUser,
    device_key: { public_key: key.publicKey, ...proof },
  });
}

/** Renews a device token with a challenge signed by `key`. */
export async function renewToken(gw: { url: string }, deviceId: string, key: TestDeviceKey = deviceKeyFor(deviceId)): Promise<{ status: number; body: any }> {
  const proof = await signedChallenge(gw, 'token', deviceId, key);
  return postJson(gw, TOKEN_PATH, { device_id: deviceId, ...proof });
}

export function helloFor(deviceId: string, extra: Record<string, unknown> = {}) {
  return {
    type: 'hello',
    device_id: deviceId,
    hostname: `${deviceId}-host`,
    os: 'linux',
    os_version: '6.1',
    arch: 'x64',
    agent_version: '0.1.0',
    users: [{ os_user: 'alice' }],
    policy_version: null,
    outbox_stream: 'stream-1',
    outbox_first_seq: null,
    ...extra,
  };
}

export const at = (i = 0) => new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString();

/** A websocket peer speaking the protocol by hand, recording every message and the close. */
export class Peer {
  readonly ws: WebSocket;
  readonly messages: GatewayMessage[] = [];
  closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;
  #waiters: { predicate: (m: GatewayMessage) => boolean; resolve: (m: GatewayMessage) => void }[] = [];

  constructor(url: string, token: string | undefined, options: { protocol?: string | null } = {}) {
    const protocols = options.protocol === null ? [] : [options.protocol ?? SUBPROTOCOL];
    this.ws = new WebSocket(url, protocols, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('error', () => {});
    this.ws.on('message', (data) => {
      const m = JSON.parse((data as Buffer).toString('utf8')) as GatewayMessage;
      this.messages.push(m);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.predicate(m)) return true;
        w.resolve(m);
        return false;
      });
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The next message (from now, or already received when `seen` allows) matching `predicate`. */
  next<T extends GatewayMessage['type']>(type: T, predicate: (m: Extract<GatewayMessage, { type: T }>) => boolean = () => true, options: { includeSeen?: boolean } = {}): Promise<Extract<GatewayMessage, { type: T }>> {
    const match = (m: GatewayMessage) => m.type === type && predicate(m as Extract<GatewayMessage, { type: T }>);
    if (options.includeSeen) {
      const seen = this.messages.find(match);
      if (seen) return Promise.resolve(seen as Extract<GatewayMessage, { type: T }>);
    }
    return new Promise((resolve) => this.#waiters.push({ predicate: match, resolve: resolve as (m: GatewayMessage) => void }));
  }

  /** Connects and says hello; resolves once the first policy arrived. */
  async handshake(deviceId: string, extra: Record<string, unknown> = {}) {
    await this.opened;
    const policy = this.next('policy');
    const ack = this.next('ack');
    this.send(helloFor(deviceId, extra));
    return { ack: await ack, policy: await policy };
  }

  close(): void {
    this.ws.close();
  }
}

/** Enrolls a device for a fresh key and returns its token. */
export async function enrolledDevice(gw: TestGateway, deviceId: string, email = `${deviceId}@example.com`, osUser = 'alice'): Promise<{ token: string; key: string; keyId: string }> {
  const key = await createKey(gw, email);
  const r = await enroll(gw, key.key, deviceId, osUser);
  if (r.status !== 200) throw new Error(`enrollment failed: ${JSON.stringify(r.body)}`);
  return { token: r.body.device_token, key: key.key, keyId: key.id };
}
