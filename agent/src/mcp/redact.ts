// Redaction before anything leaves the machine: every value that may be a secret is replaced by a
// keyed hash, `hmac:<first 12 hex of HMAC-SHA256(device key, value)>`, so IT can see that two
// servers share a value without ever seeing it. The key is random per device and never leaves it.
// The same rules, with a fixed marker instead of the hash, give a server's public identity
// (fingerprint.ts): what the report shows in clear and nothing else.
import { createHmac, randomBytes } from 'node:crypto';
import type { McpServerReport, NormalizedServer, RedactedPair } from './types.ts';

export const DEVICE_KEY_BYTES = 32;

/** What a secret becomes in a server's public identity: the same on every device, whatever the secret. */
export const SECRET_MARKER = '<secret>';

/** WHATWG parsing lowercases scheme and host and drops a default port; path and query stay as written. */
export function canonicalUrl(raw: string): string {
  const text = raw.trim();
  try {
    return new URL(text).href;
  } catch {
    const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(text);
    return m ? `${m[1]!.toLowerCase()}${m[2]!.toLowerCase()}${m[3]!}` : text;
  }
}

export function newDeviceKey(): Buffer {
  return randomBytes(DEVICE_KEY_BYTES);
}

// Shapes of well-known credentials. Matched anywhere inside a value.
const SECRET_PATTERNS: readonly RegExp[] = [
  /sk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_-]{16,}/g, // Anthropic, OpenAI, Stripe
  /gh[pousr]_[A-Za-z0-9]{20,}/g, // GitHub tokens
  /github_pat_[A-Za-z0-9_]{20,}/g,
  /glpat-[A-Za-z0-9_-]{16,}/g, // GitLab
  /xox[abprse]-[A-Za-z0-9-]{10,}/g, // Slack
  /(?:AKIA|ASIA)[0-9A-Z]{16}/g, // AWS access key id
  /AIza[0-9A-Za-z_-]{30,}/g, // Google API key
  /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, // JWT
  /npm_[A-Za-z0-9]{30,}/g,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
];

// Flags and variable names that carry secrets: `--api-key X`, `--token=X`, `-e GITHUB_TOKEN=X`.
const SECRET_NAME = /(?:api[-_]?key|apikey|token|secret|passw(?:or)?d|passwd|pwd|auth|credential|bearer|private[-_]?key|access[-_]?key|session|cookie|signature|client[-_]?secret)/i;
// `${VAR}`, `$VAR`, `${env:VAR}`, `${input:id}`: references, not secrets; kept readable.
const REFERENCE = /^\$(?:\{[A-Za-z_][A-Za-z0-9_.:-]*\}|[A-Za-z_][A-Za-z0-9_]*)$/;

function shannonEntropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** A long random-looking token (base64/hex/url-safe) with letters and digits mixed. */
export function looksHighEntropy(s: string): boolean {
  if (s.length < 24 || !/^[A-Za-z0-9+/=_.~-]+$/.test(s)) return false;
  if (!/[0-9]/.test(s) || !/[A-Za-z]/.test(s)) return false;
  // Paths and package names (`@scope/name`, `src/lib/x.ts`) are not tokens; base64 with `/` is.
  if (/^[./~@]/.test(s)) return false;
  if (s.includes('/') && s.split('/').some((seg) => /^[a-z0-9._-]*$/.test(seg) || /\.[a-z]{1,4}$/.test(seg))) return false;
  return shannonEntropy(s) >= 3.6;
}

/** A URL path segment that reads as a credential (`/t/<token>/sse`). */
export function isSecretPathSegment(segment: string): boolean {
  let decoded = segment;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    // malformed escapes: judged as written
  }
  return looksHighEntropy(decoded) || SECRET_PATTERNS.some((re) => new RegExp(re.source).test(segment));
}

export class Redactor {
  readonly #key: Buffer | undefined;

  /** With a device key: secrets become `hmac:<12 hex>`. Without: they become SECRET_MARKER (public identity). */
  constructor(deviceKey?: Buffer) {
    if (deviceKey !== undefined && deviceKey.length < 16) throw new Error('MCP redaction key must be at least 16 bytes');
    this.#key = deviceKey === undefined ? undefined : Buffer.from(deviceKey);
  }

  hash(value: string): string {
    if (this.#key === undefined) return SECRET_MARKER;
    return `hmac:${createHmac('sha256', this.#key).update(value, 'utf8').digest('hex').slice(0, 12)}`;
  }

  /** A value known to be sensitive (env value, header value): hashed unless it is only a reference. */
  value(value: string): string {
    return REFERENCE.test(value.trim()) ? value : this.hash(value);
  }

  /** Replaces embedded secrets (known token shapes, `Bearer X`, URL credentials and query values). */
  text(value: string): string {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) return this.url(value);
    let out = value.replace(/\b(Bearer|Basic|Token)\s+([^\s"',;]+)/gi, (_m, scheme: string, tok: string) => `${scheme} ${this.hash(tok)}`);
    for (const re of SECRET_PATTERNS) out = out.replace(re, (m) => (m.startsWith('hmac:') ? m : this.hash(m)));
    // `NAME=value` with a secret-looking NAME (docker -e, env-style args).
    out = out.replace(/^([A-Za-z_][A-Za-z0-9_.-]*)=(.+)$/s, (m, name: string, v: string) =>
      SECRET_NAME.test(name) && !v.startsWith('hmac:') ? `${name}=${this.value(v)}` : m);
    if (looksHighEntropy(out) && !out.includes('hmac:')) return this.hash(out);
    return out;
  }

  /** URL: userinfo, every query value and the fragment hashed; scheme and host lowercased. */
  url(raw: string): string {
    let u: URL;
    try {
      u = new URL(raw.trim());
    } catch {
      return this.textWithoutUrl(raw);
    }
    const auth = u.username || u.password ? `${this.hash(decodeURIComponent(u.username + (u.password ? `:${u.password}` : '')))}@` : '';
    const query = [...u.searchParams.entries()].map(([k, v]) => `${encodeURIComponent(k)}=${this.value(v)}`).join('&');
    const path = u.pathname
      .split('/')
      .map((seg) => (isSecretPathSegment(seg) ? this.hash(seg) : seg))
      .join('/');
    return `${u.protocol}//${auth}${u.host}${path}${query ? `?${query}` : ''}${u.hash ? `#${this.hash(u.hash.slice(1))}` : ''}`;
  }

  private textWithoutUrl(raw: string): string {
    let out = raw;
    for (const re of SECRET_PATTERNS) out = out.replace(re, (m) => this.hash(m));
    return looksHighEntropy(out) ? this.hash(out) : out;
  }

  /** Arguments in order: values after secret-named flags, `--flag=value` and token-shaped args hashed. */
  args(args: readonly string[]): string[] {
    const out: string[] = [];
    let hideNext = false;
    for (const arg of args) {
      if (hideNext) {
        out.push(this.value(arg));
        hideNext = false;
        continue;
      }
      const flagEq = /^(--?[A-Za-z0-9][A-Za-z0-9_.-]*)=(.*)$/s.exec(arg);
      if (flagEq) {
        out.push(SECRET_NAME.test(flagEq[1]!) ? `${flagEq[1]!}=${this.value(flagEq[2]!)}` : `${flagEq[1]!}=${this.text(flagEq[2]!)}`);
        continue;
      }
      if (/^--?[A-Za-z][A-Za-z0-9_.-]*$/.test(arg)) {
        hideNext = SECRET_NAME.test(arg);
        out.push(arg);
        continue;
      }
      // `-H "Authorization: Bearer X"` and header-style args.
      const header = /^([A-Za-z0-9-]+):\s*(.+)$/s.exec(arg);
      if (header && !/^[a-z][a-z0-9+.-]*:\/\//i.test(arg) && SECRET_NAME.test(header[1]!)) {
        out.push(`${header[1]!}: ${this.hash(header[2]!)}`);
        continue;
      }
      out.push(this.text(arg));
    }
    return out;
  }

  pairs(record: Readonly<Record<string, string>> | undefined): RedactedPair[] {
    return Object.entries(record ?? {})
      .map(([name, value]) => ({ name, value: this.value(value) }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }
}

/** Leaves every value as it is: for servers whose values are already redacted. */
class IdentityRedactor extends Redactor {
  override value(value: string): string {
    return value;
  }
  override text(value: string): string {
    return value;
  }
  override url(raw: string): string {
    return raw;
  }
  override args(args: readonly string[]): string[] {
    return [...args];
  }
}
const ALREADY_REDACTED = new IdentityRedactor();

export interface ReportContext {
  app: McpServerReport['app'];
  scope: McpServerReport['scope'];
  configPath: string;
  osUser: string;
  fingerprint: string;
}

/** The redacted form of one server: the only shape that goes into `inventory.mcp`. */
export function redactServer(redactor: Redactor, server: NormalizedServer, ctx: ReportContext): McpServerReport {
  // A server restored from the store was redacted before it was stored; hashing again would change its values.
  if (server.stored) redactor = ALREADY_REDACTED;
  const report: McpServerReport = {
    app: ctx.app,
    scope: ctx.scope,
    configPath: ctx.configPath,
    name: server.name,
    transport: server.transport,
    fingerprint: ctx.fingerprint,
    env: redactor.pairs(server.env),
    headers: redactor.pairs(server.headers),
    enabled: server.enabled,
    osUser: ctx.osUser,
  };
  if (server.projectPath !== undefined) report.projectPath = server.projectPath;
  if (server.command !== undefined) report.command = redactor.text(server.command);
  if (server.args !== undefined) report.args = redactor.args(server.args);
  if (server.url !== undefined) report.url = server.stored ? server.url : redactor.url(canonicalUrl(server.url));
  if (server.cwd !== undefined) report.cwd = server.cwd;
  return report;
}
