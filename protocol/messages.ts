// The edge protocol's messages as zod schemas: the single source of both the TypeScript types and the
// JSON Schemas in docs/protocol.md. Every message is a JSON object `{ type, id?, ... }`.
import { z } from 'zod';
import { LIMITS } from './limits.ts';

// ---- shared pieces ---------------------------------------------------------------------------

/** Identifiers chosen by a machine: device ids, app ids, request ids, outbox streams. */
const token = (max: number) => z.string().min(1).max(max).regex(/^[A-Za-z0-9._:@+-]+$/, 'letters, digits and . _ : @ + - only');
/** Text for people (hostnames, display names); bounded, no control characters. */
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const text = (max: number) => z.string().min(1).max(max).regex(/^[^\u0000-\u001f\u007f]*$/, 'no control characters');

export const timestampSchema = z.iso.datetime({ offset: true }).meta({ description: 'RFC 3339 date-time, e.g. 2025-01-31T12:00:00.000Z' });
export const requestIdSchema = token(64).meta({ description: 'Chosen by the sender of a request; echoed by its answer.' });
export const deviceIdSchema = token(128).meta({ description: 'Stable id of the machine, chosen by the agent at first start.' });
export const appIdSchema = token(64).meta({ description: "The agent's app catalog id, e.g. `claude-code`, `codex`, `cursor`." });
export const fingerprintSchema = z
  .string()
  .regex(/^[A-Za-z0-9:_-]{8,128}$/, '8-128 characters of letters, digits, : _ -')
  .meta({
    description:
      'MCP server fingerprint, the same on every device: `sha256:` over the public identity (stdio: command and arguments in order; remote: canonical URL), with every part the redaction hides replaced by a fixed marker. No secret enters it (docs/mcp.md "Fingerprints").',
  });
export const seqSchema = z.int().min(1).meta({ description: 'Outbox sequence number: positive, strictly increasing per outbox stream.' });
export const statusSchema = z.enum(['pending', 'approved', 'denied']);
export const osUserSchema = text(256).meta({ description: 'OS account name on the device (`alice`, `CORP\\\\alice`).' });
export const userIdSchema = text(256).meta({ description: "The gateway's id of a person (from enrollment or sign-in)." });
export const osSchema = z.enum(['darwin', 'linux', 'windows']);
export const routingModeSchema = z.enum(['gateway', 'passthrough']);

const envelope = { id: requestIdSchema.optional() };

// ---- agent -> gateway ------------------------------------------------------------------------

export const helloSchema = z
  .object({
    type: z.literal('hello'),
    ...envelope,
    device_id: deviceIdSchema,
    hostname: text(255),
    os: osSchema,
    os_version: text(128),
    arch: token(32).meta({ description: '`x64`, `arm64`...' }),
    agent_version: text(64),
    users: z
      .array(z.object({ os_user: osUserSchema, user_id: userIdSchema.optional() }))
      .max(LIMITS.maxUsers)
      .meta({ description: 'OS users on this device the agent serves, with the gateway user each is signed in as, if any.' }),
    policy_version: z.int().min(0).nullable().meta({ description: 'Version of the last good policy the agent holds; null when it has none.' }),
    outbox_stream: token(64).meta({
      description: 'Random id of the agent outbox, created with it; seqs are unique within a stream. A new stream (reinstall, store reset) starts again at seq 1.',
    }),
    outbox_first_seq: seqSchema.nullable().meta({ description: 'First unacknowledged seq in the outbox; null when the outbox is empty.' }),
  })
  .meta({ title: 'hello', description: 'First message on every connection. The gateway answers with `settings`, `ack` and `policy`.' });

export const inventoryAppSchema = z.object({
  app_id: appIdSchema,
  display_name: text(128).optional(),
  os_user: osUserSchema.optional(),
  version: text(64).optional(),
  path: text(4096).optional().meta({ description: 'Executable or bundle path where the app was found.' }),
  last_seen_at: timestampSchema.optional().meta({ description: 'When the agent last saw the app run or make a request.' }),
});

export const inventoryAppsSchema = z
  .object({
    type: z.literal('inventory.apps'),
    ...envelope,
    seq: seqSchema,
    apps: z.array(inventoryAppSchema).max(LIMITS.maxInventoryApps),
  })
  .meta({ title: 'inventory.apps', description: "The device's full list of detected AI apps; replaces the previous one. Part of the outbox (acknowledged by seq)." });

export const mcpTransportSchema = z.enum(['stdio', 'http', 'sse', 'unknown']);

export const inventoryMcpServerSchema = z.object({
  app: appIdSchema.meta({ description: 'The app whose configuration declares the server.' }),
  scope: token(32).meta({ description: 'Where it is declared: `user`, `project`, `local`, `managed`...' }),
  config_path: text(4096),
  name: text(256),
  transport: mcpTransportSchema,
  fingerprint: fingerprintSchema,
  command: text(4096).optional().meta({ description: 'Redacted: secret-looking parts replaced by a keyed hash.' }),
  args: z.array(z.string().max(4096)).max(256).optional().meta({ description: 'Redacted like `command`.' }),
  url: text(4096).optional().meta({ description: 'Redacted: query values replaced by a keyed hash.' }),
  env_keys: z.array(text(256)).max(256).meta({ description: 'Names only; values never leave the device.' }),
  header_keys: z.array(text(256)).max(256).meta({ description: 'Names only; values never leave the device.' }),
  os_user: osUserSchema.optional(),
});

export const inventoryMcpErrorSchema = z.object({
  app: appIdSchema,
  config_path: text(4096),
  os_user: osUserSchema.optional(),
  error: text(1024).meta({ description: 'Why the file could not be read or parsed (no file content).' }),
});

export const inventoryMcpSchema = z
  .object({
    type: z.literal('inventory.mcp'),
    ...envelope,
    seq: seqSchema,
    servers: z.array(inventoryMcpServerSchema).max(LIMITS.maxInventoryMcpServers),
    errors: z.array(inventoryMcpErrorSchema).max(LIMITS.maxInventoryMcpErrors),
  })
  .meta({ title: 'inventory.mcp', description: "The device's full, redacted list of MCP servers; replaces the previous one. Part of the outbox." });

const attrValue = z.union([z.string().max(4096), z.number(), z.boolean(), z.null()]);

export const eventSchema = z
  .object({
    seq: seqSchema,
    type: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'lower-case word of at most 64 characters').meta({ description: '`request`, `block`, `mcp.enforced`, `gap`...' }),
    at: timestampSchema,
    app: appIdSchema.optional(),
    os_user: osUserSchema.optional(),
    attrs: z
      .record(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'key of 1-64 letters, digits, _ . : -'), attrValue)
      .optional()
      .meta({ description: 'Flat attributes of the event (no bodies, no secrets).' }),
  })
  .superRefine((event, ctx) => {
    if (event.attrs && Object.keys(event.attrs).length > LIMITS.maxEventAttrs) {
      ctx.addIssue({ code: 'custom', path: ['attrs'], message: `at most ${LIMITS.maxEventAttrs} attributes` });
    }
    if (event.type === 'gap') {
      const count = event.attrs?.['count'];
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) {
        ctx.addIssue({ code: 'custom', path: ['attrs', 'count'], message: 'a gap event needs attrs.count, a positive integer' });
      }
    }
  })
  .meta({
    description:
      'One audit event. `request` and `block` events carry attrs.identity: `verified` when the agent proved the process is the catalog app it names (attrs.identity_proof says how: `code-signature`, `root-owned-path`, `npm-package`), `unverified` when the name or path matched but nothing proved it. A `gap` event summarises events the agent had to drop when its outbox reached its cap: attrs.count (required), attrs.first_seq, attrs.last_seq, attrs.first_at, attrs.last_at and per-type counts as attrs["count.<type>"].',
  });

export const eventsSchema = z
  .object({
    type: z.literal('events'),
    ...envelope,
    seq_from: seqSchema.meta({ description: 'The seq of the first event; equal to events[0].seq.' }),
    events: z.array(eventSchema).min(1).max(LIMITS.maxEventsPerBatch),
  })
  .superRefine((batch, ctx) => {
    const first = batch.events[0];
    if (first && first.seq !== batch.seq_from) {
      ctx.addIssue({ code: 'custom', path: ['seq_from'], message: `seq_from ${batch.seq_from} differs from events[0].seq ${first.seq}` });
    }
    for (let i = 1; i < batch.events.length; i++) {
      const prev = batch.events[i - 1]!.seq;
      const cur = batch.events[i]!.seq;
      if (cur <= prev) {
        ctx.addIssue({ code: 'custom', path: ['events', i, 'seq'], message: `seq ${cur} does not follow ${prev}: seqs must strictly increase` });
        return;
      }
    }
  })
  .meta({ title: 'events', description: 'A batch of outbox events, seqs strictly increasing (gaps allowed). Answered by `ack`.' });

export const certSignSchema = z
  .object({
    type: z.literal('cert.sign'),
    id: requestIdSchema,
    csr_pem: z.string().min(1).max(LIMITS.maxCsrPemBytes).meta({ description: 'PKCS#10 certificate signing request, PEM.' }),
    hosts: z.array(z.string().min(1).max(253)).min(1).max(LIMITS.maxCertHosts).meta({ description: 'DNS names for the leaf SAN.' }),
  })
  .meta({ title: 'cert.sign', description: 'Asks the gateway-held CA for a leaf (ca_mode gateway). Answered by `cert` with the same id.' });

export const approvalRequestSchema = z
  .discriminatedUnion('kind', [
    z.object({
      type: z.literal('approval.request'),
      ...envelope,
      kind: z.literal('app'),
      app_id: appIdSchema,
      display_name: text(128),
      os_user: osUserSchema.optional(),
      details: z.record(z.string().max(64), z.string().max(1024)).optional(),
      reason: text(LIMITS.maxApprovalReasonChars)
        .optional()
        .meta({ description: 'Why the person needs it, in their words (`heimdall request-access APP --reason ...`); absent when the agent reports a use by itself.' }),
    }),
    z.object({
      type: z.literal('approval.request'),
      ...envelope,
      kind: z.literal('mcp'),
      fingerprint: fingerprintSchema,
      display_name: text(256),
      os_user: osUserSchema.optional(),
      details: z.record(z.string().max(64), z.string().max(1024)).optional(),
      reason: text(LIMITS.maxApprovalReasonChars)
        .optional()
        .meta({ description: 'Why the person needs it, in their words (`heimdall request-access --mcp FINGERPRINT --reason ...`); absent when the agent reports a use by itself.' }),
    }),
  ])
  .meta({
    title: 'approval.request',
    description: 'A person asked for an app or MCP server. An unknown item becomes a pending catalog item; the new policy follows.',
  });

export const resyncSchema = z
  .object({
    type: z.literal('resync'),
    ...envelope,
    policy_version: z.int().min(0).nullable(),
  })
  .meta({ title: 'resync', description: 'Periodic full resync (every `full_resync_s`): the gateway answers with the full `policy`.' });

export const pingSchema = z
  .object({ type: z.literal('ping'), ...envelope, at: timestampSchema.optional() })
  .meta({ title: 'ping', description: 'Either side may send it; the other answers `pong` with the same id.' });

export const pongSchema = z
  .object({ type: z.literal('pong'), ...envelope, at: timestampSchema.optional() })
  .meta({ title: 'pong', description: 'Answer to `ping`.' });

// ---- gateway -> agent ------------------------------------------------------------------------

const usersStatusSchema = z
  .record(osUserSchema, statusSchema)
  .meta({ description: "Per OS user of this device whose effective status differs from the global one. The agent's rule: users[os_user] ?? status." });

export const policyAppSchema = z.object({
  id: appIdSchema,
  display_name: text(128).optional(),
  status: statusSchema,
  users: usersStatusSchema.optional(),
});

export const policyMcpServerSchema = z.object({
  fingerprint: fingerprintSchema,
  name: text(256).optional(),
  status: statusSchema,
  users: usersStatusSchema.optional(),
});

/** The settings field for a request of an OS user who is not signed in (issue 18; protocol/sso.ts has the rest of SSO). */
export const unattributedModeSchema = z
  .enum(['block', 'device'])
  .meta({
    description:
      "A request from an OS user who is not signed in: `block` (refused, telling them to run `heimdall login`) or `device` (served under the organization's unattributed virtual key, audited as unattributed). Absent: `block`.",
  });

export const policySettingsSchema = z.object({
  pending_action: z.enum(['allow', 'block']).meta({ description: 'What a pending (undecided) app or MCP server gets.' }),
  fail_mode: z.enum(['open', 'closed']).meta({ description: 'What happens when the agent holds no valid policy.' }),
  intercept: z.boolean().meta({ description: 'Whether the agent intercepts AI traffic at all.' }),
  routing: z.record(appIdSchema, routingModeSchema).meta({ description: 'Routing mode per app; apps not listed use `gateway`.' }),
  full_resync_s: z.int().min(30).max(86_400),
  allow_direct_keys: z.boolean().meta({ description: 'Whether the gateway honours `x-bf-direct-key` (pass-through mode needs it).' }),
  require_verified: z
    .array(appIdSchema)
    .max(1024)
    .optional()
    .meta({
      description:
        "Apps allowed only when the agent verified that the process is the app (the catalog's proof: a root-owned install, the vendor's package, a code signature), not only named like it. A process that claims one of them unverified is blocked (status `unverified`), whatever the app's status. Absent: none.",
    }),
  unattributed: unattributedModeSchema.optional(),
});

export const policySnapshotSchema = z.object({
  version: z.int().min(1).meta({ description: 'Increases with every change; the agent never applies a lower version than it holds.' }),
  issued_at: timestampSchema,
  apps: z.array(policyAppSchema),
  mcp_servers: z.array(policyMcpServerSchema),
  settings: policySettingsSchema,
});

export const policySchema = z
  .object({ type: z.literal('policy'), ...envelope, snapshot: policySnapshotSchema })
  .meta({
    title: 'policy',
    description:
      'The full policy for this device: after hello, after every change, and on resync. It lists only items an administrator decided (globally or for a user); an item not listed is pending, so what devices report never grows it.',
  });

export const ackSchema = z
  .object({
    type: z.literal('ack'),
    ...envelope,
    outbox_stream: token(64),
    seq: z.int().min(0).meta({ description: 'Highest seq stored for this outbox stream; 0 when none. The agent deletes everything up to it.' }),
  })
  .meta({ title: 'ack', description: 'Sent after hello and after every stored `events` or `inventory.*` message.' });

export const certSchema = z
  .discriminatedUnion('ok', [
    z.object({
      type: z.literal('cert'),
      id: requestIdSchema,
      ok: z.literal(true),
      cert_pem: z.string().min(1),
      ca_pem: z.string().min(1),
      not_after: timestampSchema,
    }),
    z.object({
      type: z.literal('cert'),
      id: requestIdSchema,
      ok: z.literal(false),
      error: z.object({ code: z.enum(['no_ca', 'bad_csr', 'host_not_permitted', 'revoked', 'internal']), message: text(1024) }),
    }),
  ])
  .meta({ title: 'cert', description: 'Answer to `cert.sign`: the leaf and the CA, or why not.' });

export const settingsSchema = z
  .object({
    type: z.literal('settings'),
    ...envelope,
    server_time: timestampSchema,
    heartbeat_s: z.int().min(1),
    hello_timeout_s: z.int().min(1),
    max_message_bytes: z.int().min(1).meta({ description: 'Largest message the agent may send.' }),
    max_events_per_batch: z.int().min(1),
    drain_reconnect_s: z
      .int()
      .min(1)
      .max(3600)
      .optional()
      .meta({ description: 'After close 4503 (draining), reconnect after a uniformly random delay within this many seconds (absent: 30).' }),
  })
  .meta({ title: 'settings', description: 'Session settings, sent once after hello (before ack and policy).' });

export const budgetNameSchema = z
  .enum(['message_bytes', 'inventory_apps', 'inventory_mcp', 'catalog_items', 'events_per_minute'])
  .meta({ description: 'Which per-device budget a message exceeded (docs/gateway.md lists them and their defaults).' });

export const overBudgetSchema = z
  .object({
    type: z.literal('over_budget'),
    ...envelope,
    budget: budgetNameSchema,
    limit: z.int().min(0).meta({ description: 'The budget in force for this device.' }),
    got: z.int().min(0).meta({ description: 'What the message would have taken (bytes, rows, new catalog items, events).' }),
    seq: seqSchema.optional().meta({ description: 'The outbox seq of the refused message; the `ack` that follows covers it.' }),
    message: text(1024),
  })
  .meta({
    title: 'over_budget',
    description:
      'A message exceeded one of this device\'s budgets. The gateway keeps the connection open and acknowledges the seq (the agent drops the message from its outbox instead of resending it): an over-budget inventory is not stored (the previous one stays), events over the rate are not stored. Administrators see a `budget.exceeded` event.',
  });

export const errorCodeSchema = z.enum(['bad_message', 'unauthorized', 'revoked', 'too_slow', 'too_large', 'internal']);

export const errorSchema = z
  .object({ type: z.literal('error'), ...envelope, code: errorCodeSchema, message: text(1024) })
  .meta({ title: 'error', description: 'Why the gateway is about to close the connection (the close frame carries the same reason).' });

// ---- tables ----------------------------------------------------------------------------------

export const AGENT_MESSAGE_SCHEMAS = {
  hello: helloSchema,
  'inventory.apps': inventoryAppsSchema,
  'inventory.mcp': inventoryMcpSchema,
  events: eventsSchema,
  'cert.sign': certSignSchema,
  'approval.request': approvalRequestSchema,
  resync: resyncSchema,
  ping: pingSchema,
  pong: pongSchema,
} as const;

export const GATEWAY_MESSAGE_SCHEMAS = {
  settings: settingsSchema,
  ack: ackSchema,
  policy: policySchema,
  cert: certSchema,
  ping: pingSchema,
  pong: pongSchema,
  error: errorSchema,
  over_budget: overBudgetSchema,
} as const;

export type HelloMessage = z.infer<typeof helloSchema>;
export type InventoryApp = z.infer<typeof inventoryAppSchema>;
export type InventoryAppsMessage = z.infer<typeof inventoryAppsSchema>;
export type InventoryMcpServer = z.infer<typeof inventoryMcpServerSchema>;
export type InventoryMcpError = z.infer<typeof inventoryMcpErrorSchema>;
export type InventoryMcpMessage = z.infer<typeof inventoryMcpSchema>;
export type EdgeEvent = z.infer<typeof eventSchema>;
export type EventsMessage = z.infer<typeof eventsSchema>;
export type CertSignMessage = z.infer<typeof certSignSchema>;
export type ApprovalRequestMessage = z.infer<typeof approvalRequestSchema>;
export type ResyncMessage = z.infer<typeof resyncSchema>;
export type PingMessage = z.infer<typeof pingSchema>;
export type PongMessage = z.infer<typeof pongSchema>;
export type CatalogStatus = z.infer<typeof statusSchema>;
export type RoutingMode = z.infer<typeof routingModeSchema>;
export type PolicyApp = z.infer<typeof policyAppSchema>;
export type PolicyMcpServer = z.infer<typeof policyMcpServerSchema>;
export type PolicySettings = z.infer<typeof policySettingsSchema>;
export type PolicySnapshot = z.infer<typeof policySnapshotSchema>;
export type PolicyMessage = z.infer<typeof policySchema>;
export type AckMessage = z.infer<typeof ackSchema>;
export type CertMessage = z.infer<typeof certSchema>;
export type SettingsMessage = z.infer<typeof settingsSchema>;
export type ErrorCode = z.infer<typeof errorCodeSchema>;
export type BudgetName = z.infer<typeof budgetNameSchema>;
export type OverBudgetMessage = z.infer<typeof overBudgetSchema>;
export type ErrorMessage = z.infer<typeof errorSchema>;

export type AgentMessageType = keyof typeof AGENT_MESSAGE_SCHEMAS;
export type GatewayMessageType = keyof typeof GATEWAY_MESSAGE_SCHEMAS;
/** Any message an agent sends. */
export type AgentMessage = { [K in AgentMessageType]: z.infer<(typeof AGENT_MESSAGE_SCHEMAS)[K]> }[AgentMessageType];
/** Any message the gateway sends. */
export type GatewayMessage = { [K in GatewayMessageType]: z.infer<(typeof GATEWAY_MESSAGE_SCHEMAS)[K]> }[GatewayMessageType];

// ---- enrollment (HTTPS, not the websocket) ---------------------------------------------------

const base64 = (max: number) => z.string().min(16).max(max).regex(/^[A-Za-z0-9+/]+={0,2}$/, 'standard base64');
export const challengeSchema = z
  .string()
  .min(16)
  .max(256)
  .regex(/^[A-Za-z0-9._-]+$/, 'as the gateway issued it')
  .meta({ description: 'A challenge from `POST /edge/v1/challenge`, used once, within `challenge_ttl_s`.' });

export const deviceProofSchema = z
  .object({
    public_key: base64(512).meta({ description: "The device's public key, SubjectPublicKeyInfo DER in base64: Ed25519 or ECDSA P-256." }),
    challenge: challengeSchema,
    signature: base64(512).meta({
      description: 'Signature by the device key over `heimdall-device-proof-v1\\n<purpose>\\n<challenge>\\n<device_id>` (Ed25519, or ECDSA P-256 with SHA-256 in IEEE P1363 r||s form).',
    }),
  })
  .meta({ description: 'Proof that the sender holds the private key of `public_key`.' });

export const challengeResponseSchema = z
  .object({ challenge: challengeSchema, expires_at: timestampSchema })
  .meta({ title: 'challenge response', description: 'POST /edge/v1/challenge, no body: 200 with a challenge to sign.' });

export const tokenRequestSchema = z
  .object({
    device_id: deviceIdSchema,
    challenge: challengeSchema,
    signature: base64(512).meta({ description: 'Signature of the proof text with purpose `token`, by the key bound to `device_id` at enrollment.' }),
  })
  .meta({ title: 'token request', description: 'POST /edge/v1/token, Content-Type application/json.' });

export const tokenResponseSchema = z
  .object({
    device_token: z.string().min(16).meta({ description: 'Bearer token for the websocket and the `x-heimdall-device-token` header of inference requests.' }),
    expires_at: timestampSchema,
  })
  .meta({ title: 'token response', description: '200 on success; 401 (unknown device, bad signature, used or expired challenge), 403 (device revoked).' });

export const enrollRequestSchema = z
  .object({
    virtual_key: z.string().min(8).max(256).meta({ description: 'The user virtual key (`sk-bf-...`), sent once.' }),
    device: z.object({
      device_id: deviceIdSchema,
      hostname: text(255),
      os: osSchema,
      os_version: text(128).optional(),
      arch: token(32).optional(),
      agent_version: text(64).optional(),
    }),
    os_user: osUserSchema,
    device_key: deviceProofSchema.meta({ description: 'The device key and its proof (purpose `enroll`); the gateway binds device id and key at first enrollment.' }),
  })
  .meta({ title: 'enroll request', description: `POST ${'/edge/v1/enroll'}, Content-Type application/json.` });

export const enrollResponseSchema = z
  .object({
    device_token: z.string().min(16).meta({ description: 'Bearer token for the websocket; shown once, only its hash is stored.' }),
    device_id: deviceIdSchema,
    user: z.object({ id: userIdSchema, email: z.string() }),
    control_url: z.string().meta({ description: 'The `wss://` (or `ws://` on loopback) URL to connect to.' }),
    token_expires_at: timestampSchema.meta({ description: 'When `device_token` ends; renew it at `POST /edge/v1/token` before then.' }),
  })
  .meta({ title: 'enroll response', description: '200 on success; 400 (field named), 401 (bad or revoked key), 403 (device or device key revoked), 409 (device id bound to another key) otherwise, as `{ error: { code, message, field? } }`.' });

export type EnrollRequest = z.infer<typeof enrollRequestSchema>;
export type ChallengeResponse = z.infer<typeof challengeResponseSchema>;
export type TokenRequest = z.infer<typeof tokenRequestSchema>;
export type TokenResponse = z.infer<typeof tokenResponseSchema>;
export type EnrollResponse = z.infer<typeof enrollResponseSchema>;
export type UnattributedMode = z.infer<typeof unattributedModeSchema>;
