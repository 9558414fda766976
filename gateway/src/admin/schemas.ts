// Request bodies and queries of the admin API. Strict objects: a misspelt field is a 400 that names it.
import { z } from 'zod';
import { appIdSchema, fingerprintSchema, routingModeSchema, statusSchema } from '../../../protocol/index.ts';

export const settingsPatchSchema = z.strictObject({
  pending_action: z.enum(['allow', 'block']).optional(),
  fail_mode: z.enum(['open', 'closed']).optional(),
  intercept: z.boolean().optional(),
  routing: z.record(appIdSchema, routingModeSchema.nullable()).optional(),
  full_resync_s: z.int().min(30).max(86_400).optional(),
  allow_direct_keys: z.boolean().optional(),
});

export const decisionSchema = z.strictObject({
  status: statusSchema,
  /** A user (email or id): the decision applies to that user only; `pending` removes it. */
  user: z.string().min(1).max(256).optional(),
});

export const appIdParam = appIdSchema;
export const fingerprintParam = fingerprintSchema;

export const createKeySchema = z.strictObject({
  user_email: z.email(),
  name: z.string().min(1).max(128).optional(),
});

export const eventsQuerySchema = z.strictObject({
  device: z.string().min(1).max(128).optional(),
  /** A user's email or id. */
  user: z.string().min(1).max(320).optional(),
  app: z.string().min(1).max(64).optional(),
  type: z.string().min(1).max(64).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  before: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
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
