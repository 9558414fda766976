// Request bodies and queries of the admin API. Strict objects: a misspelt field is a 400 that names it.
import { z } from 'zod';
import { appIdSchema, fingerprintSchema, LIMITS, routingModeSchema, statusSchema } from '../../../protocol/index.ts';

// `accepted: ...` messages say what a person may send where zod's own words would not.
const booleanSetting = z.boolean({ error: 'accepted: true, false' }).optional();
const resyncError = { error: 'accepted: a whole number of seconds from 30 to 86400' };

export const settingsPatchSchema = z.strictObject({
  pending_action: z.enum(['allow', 'block']).optional(),
  fail_mode: z.enum(['open', 'closed']).optional(),
  intercept: booleanSetting,
  routing: z
    .record(appIdSchema, z.enum(routingModeSchema.options, { error: 'accepted: gateway, passthrough, or null to remove it (back to gateway)' }).nullable(), {
      error: (issue) => (issue.code === 'invalid_type' ? 'accepted: an object of app ids to "gateway", "passthrough" or null' : undefined),
    })
    .optional(),
  full_resync_s: z.int(resyncError).min(30, resyncError).max(86_400, resyncError).optional(),
  allow_direct_keys: booleanSetting,
  /** `{ "claude-code": true }`: agents allow the app only to a process verified to be it; `false` lifts it. */
  require_verified: z
    .record(appIdSchema, z.boolean({ error: 'accepted: true (allow the app only when verified) or false' }), {
      error: (issue) => (issue.code === 'invalid_type' ? 'accepted: an object of app ids to true or false' : undefined),
    })
    .optional(),
});

export const decisionSchema = z.strictObject({
  status: statusSchema,
  /** A user (email or id): the decision applies to that user only; `pending` removes it. */
  user: z.string().min(1).max(256).optional(),
});

/** `GET apps?status=` and `GET mcp-servers?status=`: only the items with this global status. */
export const catalogQuerySchema = z.strictObject({
  status: statusSchema.optional(),
});

export const appIdParam = appIdSchema;
export const fingerprintParam = fingerprintSchema;

/** An administrator's assignment of a virtual key to a person: an `env.NAME` reference, or null (back to the group mapping). */
export const assignKeySchema = z.strictObject({
  virtual_key: z.string().regex(/^env\.[A-Za-z_][A-Za-z0-9_]*$/, 'accepted: "env.NAME" (the gateway\'s environment variable holding the key), or null').nullable(),
});

export const createKeySchema = z.strictObject({
  user_email: z.email(),
  name: z.string().min(1).max(128).optional(),
});

const limitError = { error: 'accepted: a whole number from 1 to 1000' };
const beforeError = { error: 'accepted: an event id (a whole number from 1), as next_before gives it' };

export const eventsQuerySchema = z.strictObject({
  device: z.string().min(1).max(128).optional(),
  /** A user's email or id. */
  user: z.string().min(1).max(320).optional(),
  app: z.string().min(1).max(64).optional(),
  type: z.string().min(1).max(64).optional(),
  since: z.iso.datetime({ offset: true, error: 'accepted: an RFC 3339 time, e.g. 2025-01-31T00:00:00Z' }).optional(),
  before: z.coerce.number(beforeError).int(beforeError).min(1, beforeError).optional(),
  limit: z.coerce.number(limitError).int(limitError).min(1, limitError).max(1000, limitError).default(100),
});

export const generateCaSchema = z.strictObject({
  domains: z.array(z.string().min(1).max(253)).min(1).max(100).optional(),
  common_name: z.string().min(1).max(64).optional(),
  organization: z.string().min(1).max(64).optional(),
});

export const uploadCaSchema = z.strictObject({
  cert_pem: z.string().min(1).max(64 * 1024),
  key_pem: z.string().min(1).max(64 * 1024),
});

const budget = (max: number) => {
  const error = { error: `accepted: a whole number from 1 to ${max}` };
  return z.int(error).min(1, error).max(max, error).optional();
};

/** PATCH budgets: the per-device budgets (docs/gateway.md). */
export const budgetsPatchSchema = z.strictObject({
  message_bytes: budget(LIMITS.maxAgentMessageBytes),
  inventory_apps: budget(LIMITS.maxInventoryApps),
  inventory_mcp: budget(LIMITS.maxInventoryMcpServers),
  catalog_items: budget(10_000_000),
  events_per_minute: budget(10_000_000),
  events_burst: budget(10_000_000),
});

/** POST apps/delete, mcp-servers/delete: many items at once (a flood is cleaned in one call). */
export const deleteItemsSchema = (kind: 'app' | 'mcp') =>
  z.strictObject({ ids: z.array(kind === 'app' ? appIdSchema : fingerprintSchema).min(1).max(100_000) });

/** POST apps/:id/merge, mcp-servers/:fingerprint/merge. */
export const mergeSchema = (kind: 'app' | 'mcp') => z.strictObject({ into: kind === 'app' ? appIdSchema : fingerprintSchema });
