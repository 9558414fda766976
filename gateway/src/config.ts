// The gateway's config file (JSON, optional): public URL, TLS, admin exposure, and the inference
// section (owned by the inference room). Secrets are never in it: provider keys are `env.NAME`.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const fileSchema = z.strictObject({
  public_url: z.url({ protocol: /^https?$/ }).optional(),
  support_url: z.url().optional(),
  admin: z.strictObject({ allow_remote: z.boolean().optional() }).optional(),
  tls: z.strictObject({ cert_file: z.string().min(1), key_file: z.string().min(1) }).optional(),
  inference: z.unknown().optional(),
});

export interface GatewayConfig {
  /** Where devices reach the gateway (`https://gw.example.com`); enrollment answers with its wss:// URL. */
  publicUrl: URL | undefined;
  supportUrl: string | undefined;
  adminAllowRemote: boolean;
  tls: { certPem: string; keyPem: string } | undefined;
  /** The raw `inference` section, validated by the inference room. */
  inference: unknown;
  source: string | undefined;
}

export class GatewayConfigError extends Error {
  override name = 'GatewayConfigError';
}

export const EMPTY_CONFIG: GatewayConfig = { publicUrl: undefined, supportUrl: undefined, adminAllowRemote: false, tls: undefined, inference: undefined, source: undefined };

export function loadGatewayConfig(file: string): GatewayConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new GatewayConfigError(`gateway config ${file}: ${(err as Error).message}; fix the file or start without --config`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = [...issue.path.map(String), ...(issue.code === 'unrecognized_keys' ? [issue.keys[0] ?? ''] : [])].join('.');
    throw new GatewayConfigError(`gateway config ${file}: key \`${key || '(root)'}\`: ${issue.message}`);
  }
  const c = parsed.data;
  let tls: GatewayConfig['tls'];
  if (c.tls) {
    try {
      tls = { certPem: readFileSync(c.tls.cert_file, 'utf8'), keyPem: readFileSync(c.tls.key_file, 'utf8') };
    } catch (err) {
      throw new GatewayConfigError(`gateway config ${file}: key \`tls\`: ${(err as Error).message}`);
    }
  }
  return {
    publicUrl: c.public_url ? new URL(c.public_url) : undefined,
    supportUrl: c.support_url,
    adminAllowRemote: c.admin?.allow_remote ?? false,
    tls,
    inference: c.inference,
    source: file,
  };
}
