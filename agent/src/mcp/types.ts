// The shapes the MCP room works with: a normalised server as found on disk (local only, may hold
// secrets) and the redacted inventory that leaves the machine as `inventory.mcp`.

/** An app adapter's id (`claude-code`, `cursor`, ...; the list is apps/index.ts). */
export type McpApp = string;

export type Platform = 'darwin' | 'win32' | 'linux';

/** `user`: the user's own config; `project`: a project's config (or a per-project section of a user file); `managed`: an administrator's file. */
export type McpScope = 'user' | 'project' | 'managed';

export type McpTransport = 'stdio' | 'http' | 'sse';

/** A local account whose home the daemon inventories. uid/gid are -1 on Windows. */
export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** Windows: the account's SID, from the profile list (the userfs helper runs with its token). */
  sid?: string;
}

/** One server as configured, normalised across apps. Holds raw values: never leaves the machine. */
export interface NormalizedServer {
  name: string;
  transport: McpTransport;
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  url?: string;
  headers?: Record<string, string>;
  /** False when the app's own file disables the entry (by the user or by Heimdall). */
  enabled: boolean;
  /** The project a per-project section belongs to (Claude Code `projects[path]`). */
  projectPath?: string;
  /**
   * Set on a server restored from the store (its file fails to parse since a restart): the store
   * keeps no secret, so command, args, url, env and headers hold their redacted forms, and the
   * server is known by these fingerprints.
   */
  stored?: { fingerprint: string; localFingerprint: string; carriesSecret: boolean };
}

export interface RedactedPair {
  name: string;
  /** `hmac:<12 hex>` of the value, or the value itself when it is only a reference like `${VAR}`. */
  value: string;
}

/** One server in the report sent to the gateway: no secret survives in it. */
export interface McpServerReport {
  app: McpApp;
  scope: McpScope;
  configPath: string;
  projectPath?: string;
  name: string;
  transport: McpTransport;
  /** `sha256:<hex>` over the public identity (stdio: command + args in order; remote: canonical URL; secret parts a fixed marker). */
  fingerprint: string;
  command?: string;
  args?: string[];
  url?: string;
  cwd?: string;
  env: RedactedPair[];
  headers: RedactedPair[];
  enabled: boolean;
  osUser: string;
}

export type McpFileErrorCode =
  | 'parse'
  | 'too-large'
  | 'too-deep'
  | 'binary'
  /** The file or a folder on its path is a symbolic link (a loop included): Heimdall follows none under a home. */
  | 'symlink'
  | 'foreign-owner'
  | 'not-a-file'
  | 'read'
  | 'invalid-entry';

export interface McpFileError {
  app: McpApp;
  configPath: string;
  osUser: string;
  code: McpFileErrorCode;
  /** What was wrong, where, and what happens now. Never carries file content. */
  message: string;
  /** True when the servers last read from this file are still reported. */
  keptLastGood: boolean;
}

/** `inventory.mcp`: the whole machine's MCP servers, redacted, plus what could not be read. */
export interface McpInventory {
  generatedAt: string;
  servers: McpServerReport[];
  errors: McpFileError[];
}

export type McpVerdict = 'allow' | 'block';

/** What the policy room answers for a fingerprint and user (pending already folded by pending_action). */
export interface McpDecision {
  verdict: McpVerdict;
  status: string;
}

export type DecideMcpServer = (fingerprint: string, osUser: string) => McpDecision;

export type McpAuditAction = 'policy-written' | 'policy-removed' | 'entry-disabled' | 'entry-quarantined' | 'file-restored' | 're-applied' | 'refused';

export interface McpAuditEvent {
  type: 'mcp.enforcement';
  action: McpAuditAction;
  app: McpApp;
  path: string;
  osUser?: string;
  servers: { name: string; fingerprint: string }[];
  detail: string;
  at: string;
}

/** How a server's decision is carried out on this machine, for `heimdall mcp`. */
export type EnforcedHow = 'none' | 'managed-policy' | 'file-edit' | 'not-enforceable';

/** A row of `list()`: the report plus the local decision and how it is enforced. */
export interface McpListRow extends McpServerReport {
  decision: McpDecision;
  enforcedHow: EnforcedHow;
  enforcedDetail?: string;
}

/** The first inventory after start: `heimdall status` says when it is still running (large files take seconds). */
export interface McpDiscovery {
  state: 'in_progress' | 'done' | 'failed';
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
}
