// Constants of the edge protocol that both sides must agree on: where to connect, the subprotocol,
// size and count limits, timings and the websocket close codes. docs/protocol.md quotes these.

/** The websocket endpoint on the control host: `wss://<control>/edge/v1/connect`. */
export const CONNECT_PATH = '/edge/v1/connect';
/** One-time device enrollment with a virtual key (HTTPS POST, JSON). */
export const ENROLL_PATH = '/edge/v1/enroll';
/** A fresh challenge for the device key to sign (HTTPS POST, no body): enrollment and token renewal start here. */
export const CHALLENGE_PATH = '/edge/v1/challenge';
/** A short-lived device token for a signed challenge (HTTPS POST, JSON). */
export const TOKEN_PATH = '/edge/v1/token';
/** The header carrying the device token on inference requests, so the gateway attributes them to a proven device. */
export const DEVICE_TOKEN_HEADER = 'x-heimdall-device-token';
/** The websocket subprotocol; a new major version of the protocol gets a new name. */
export const SUBPROTOCOL = 'heimdall.edge.v1';

export const LIMITS = {
  /** Largest message an agent may send (UTF-8 bytes of the JSON text). */
  maxAgentMessageBytes: 1024 * 1024,
  /** Largest message the gateway sends (a policy snapshot grows with the catalogs). */
  maxGatewayMessageBytes: 8 * 1024 * 1024,
  /** Events per `events` batch. */
  maxEventsPerBatch: 512,
  /** Apps in one `inventory.apps` report. */
  maxInventoryApps: 2048,
  /** MCP servers in one `inventory.mcp` report. */
  maxInventoryMcpServers: 4096,
  /** Per-file errors in one `inventory.mcp` report. */
  maxInventoryMcpErrors: 1024,
  /** Signed-in OS users in `hello`. */
  maxUsers: 64,
  /** Attributes on one event. */
  maxEventAttrs: 64,
  /** Hosts in one `cert.sign`. */
  maxCertHosts: 100,
  /** A CSR in PEM. */
  maxCsrPemBytes: 16 * 1024,
  /** A person's reason in an approval request (`heimdall request-access --reason`). */
  maxApprovalReasonChars: 500,
} as const;

export const TIMING = {
  /** The agent must send `hello` within this long after the websocket opens, or is closed with 4408. */
  helloTimeoutS: 10,
  /** The gateway sends a websocket ping frame this often; a peer that has not answered the previous one is dropped. */
  heartbeatS: 30,
  /** Reconnect backoff: first delay ceiling, and the cap. Delays use full jitter (uniform in [0, ceiling]). */
  reconnectMinS: 1,
  reconnectMaxS: 60,
  /**
   * After close 4503 (draining) the agent reconnects after a uniformly random delay within this many
   * seconds, unless `settings.drain_reconnect_s` stated another window: a replica's fleet moves to
   * the other replicas spread over the window, not all at once.
   */
  drainReconnectS: 30,
  /** Default period of the agent's full resync (the gateway's `full_resync_s` setting overrides it). */
  defaultFullResyncS: 300,
  /** A device token's lifetime; the agent renews it by signing a new challenge before it ends. */
  deviceTokenTtlS: 900,
  /** The agent renews its device token when less than this is left. */
  deviceTokenRenewBeforeS: 120,
  /** A challenge must be signed and used within this long, and only once. */
  challengeTtlS: 60,
} as const;

/**
 * Websocket close codes the gateway uses (4000-4999 is the application range; 4xxx mirrors HTTP).
 * The agent branches on them: `retry` says whether reconnecting (with backoff) can help.
 */
export const CLOSE_CODES = {
  normal: { code: 1000, retry: true, meaning: 'the gateway is shutting down or restarting' },
  goingAway: { code: 1001, retry: true, meaning: 'the gateway is going away (restart, deploy)' },
  transportTooLarge: { code: 1009, retry: true, meaning: 'a frame exceeded the transport limit (2x the message limit); the websocket layer cut it' },
  badMessage: { code: 4400, retry: true, meaning: 'a message was not valid JSON, failed the schema, or came out of order; the reason names it' },
  unauthorized: { code: 4401, retry: false, meaning: 'the device token is not (or no longer) valid, or hello named another device than the token proves' },
  revoked: { code: 4403, retry: false, meaning: 'the device was revoked by an administrator' },
  superseded: { code: 4409, retry: true, meaning: 'a newer connection of the same device replaced this one' },
  tooSlow: { code: 4408, retry: true, meaning: 'hello did not arrive in time' },
  tooLarge: { code: 4413, retry: true, meaning: 'a message exceeded the size or count limit' },
  internal: { code: 4500, retry: true, meaning: 'the gateway failed while handling a message' },
  draining: { code: 4503, retry: true, meaning: 'this gateway replica is draining (stopping): reconnect, to any replica, after a random delay within settings.drain_reconnect_s' },
} as const;

export type CloseCodeName = keyof typeof CLOSE_CODES;

/**
 * The reconnect delay for the n-th consecutive failed attempt (0-based): exponential backoff with full
 * jitter, `random() * min(max, min * 2^attempt)` seconds. Normative: a fleet reconnecting after a
 * gateway restart spreads over the window instead of arriving at once.
 */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceilingS = Math.min(TIMING.reconnectMaxS, TIMING.reconnectMinS * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.floor(random() * ceilingS * 1000);
}
