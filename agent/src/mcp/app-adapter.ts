// What Heimdall knows about one AI app's MCP servers, behind one interface: where its files live per
// OS and scope, how to read the servers out of them, and how a block is carried out (the app's own
// managed policy, or an edit of the user's file). One file per app in apps/, listed once in
// apps/index.ts; the governor only watches, schedules and reports.
import type { LocalFingerprints, ServerIdentity } from './fingerprint.ts';
import type { FileEdit } from './file-edit.ts';
import type { ExtractResult, NormalizeResult, RawEntry } from './normalize.ts';
import type { McpApp, McpScope, NormalizedServer, Platform } from './types.ts';

export type ConfigFormat = 'json' | 'jsonc' | 'toml';

/**
 * Paths per OS, relative and `/`-separated: to the user's home, to a project folder, or to the
 * managed root (`/`, `C:\`). A segment that is exactly `*` matches every entry of that folder
 * (profiles, plugin caches).
 */
export type PathsPerOs = Readonly<Record<Platform, readonly string[]>>;

/** The same relative paths on every OS. */
export function onEveryOs(...paths: string[]): PathsPerOs {
  return { darwin: paths, win32: paths, linux: paths };
}

/** One kind of file an app reads its servers from. */
export interface ConfigLocation {
  scope: McpScope;
  /** What `paths` are relative to: the user's home, each of the user's project folders, or the managed root. */
  base: 'home' | 'project' | 'managed';
  paths: PathsPerOs;
  format: ConfigFormat;
  /** The raw server entries of a parsed document of this file. */
  servers: (doc: unknown) => ExtractResult;
  /**
   * JSON paths (in `@streamparser/json` syntax) that hold servers, read by streaming when the file
   * is over the size limit. Absent: a file over the limit is reported and not read.
   */
  streamPaths?: readonly string[];
}

/** A file in the home where the app records the project folders it has opened. */
export interface ProjectSource {
  /** Relative to the home; `*` segments as in ConfigLocation. */
  paths: PathsPerOs;
  format: ConfigFormat;
  streamPaths?: readonly string[];
  /** Objects whose keys alone are kept when streaming (`$.projects`), so no project's value is held in memory. */
  streamKeys?: readonly string[];
  /** The project folders the parsed document names (only absolute paths are kept). */
  projects: (doc: unknown) => string[];
}

/** One server of the app, as the enforcement sees it. */
export interface PolicyServer {
  server: NormalizedServer;
  /** The exact identity; for a server restored from the store, its redacted form (see `exact`). */
  identity: ServerIdentity;
  /** Writing `identity` verbatim would write a secret (fingerprint.ts `carriesSecret`). */
  carriesSecret: boolean;
  /** False when the server was restored from the store and carries a secret: `identity` cannot be used as a matcher. */
  exact: boolean;
  /** HMAC of the exact identity under the device key. */
  localFingerprint: string;
}

export interface ManagedPolicyInput {
  /** The policy file's current text; undefined when it does not exist. */
  existing: string | undefined;
  /** Every server of this app found on the machine (all users, all scopes). */
  servers: readonly PolicyServer[];
  /** Those of them the policy blocks. */
  blocked: readonly PolicyServer[];
  /** What this adapter returned as `contribution` the last time Heimdall wrote the file. */
  previousContribution: unknown;
  /** Heimdall wrote this file before (its record is in the store). */
  writtenBefore: boolean;
}

export interface ManagedPolicyOutput {
  /** The file's next text; undefined: the file should not exist (it is removed if it does). */
  text: string | undefined;
  /** Kept with the file's record and handed back as `previousContribution` next time. */
  contribution?: unknown;
  /** Added to the enforcement detail shown by `heimdall mcp`. */
  note?: string;
}

/** A policy Heimdall cannot write as a file on this OS: an artifact for the MDM to deploy instead. */
export interface PolicyArtifact {
  /** Why it is not enforced from here, and what to do. */
  detail: string;
  build: (blocked: readonly ServerIdentity[]) => string | Promise<string>;
}

/** Where the app reads its machine-wide policy on one OS. */
export type ManagedPolicyPlace = { file: string } | { artifact: PolicyArtifact } | null;

/** The app's own root-owned, machine-wide policy: users cannot undo it. */
export interface ManagedPolicyEnforcement {
  kind: 'managed-policy';
  /** `file` is relative to the managed root; null: the app has no such policy on that OS. */
  place: Readonly<Record<Platform, ManagedPolicyPlace>>;
  build: (input: ManagedPolicyInput) => ManagedPolicyOutput;
  /**
   * Whether a block of this server can be written to the machine-wide file, which every local user
   * can read, without writing a secret. Absent: every block can. A blocked server that cannot goes
   * to `ownerPolicy`, or is reported not enforceable; `build` never sees it in `blocked`.
   */
  shareable?: (server: PolicyServer) => boolean;
  ownerPolicy?: OwnerPolicy;
}

export interface OwnerPolicyInput {
  /** The owner's settings file's current text; undefined when it does not exist. */
  existing: string | undefined;
  /** The servers of this user that the policy blocks and that are not shareable. */
  blocked: readonly PolicyServer[];
  /** What `build` returned as `contribution` the last time Heimdall wrote this file. */
  previousContribution: unknown;
  /** Recognises Heimdall's own entries later without keeping them (they hold secrets). */
  local: LocalFingerprints;
}

/**
 * A settings file in the home of the user whose configuration names the server, which the app reads
 * with the same effect as its managed policy: written readable by that user alone, since it repeats
 * the user's own secret. The user can undo it; Heimdall writes it again at the next enforcement.
 */
export interface OwnerPolicy {
  /** Relative to the user's home, `/`-separated. */
  path: string;
  build: (input: OwnerPolicyInput) => ManagedPolicyOutput;
}

/** No managed policy: each blocked entry is edited in the user's own file, and restored on approval. */
export interface FileEditEnforcement {
  kind: 'file-edit';
  edit: FileEdit;
}

export type Enforcement = ManagedPolicyEnforcement | FileEditEnforcement;

export interface McpAppAdapter {
  /** Kebab-case, the same word in reports, audit events and `heimdall mcp`. */
  id: McpApp;
  configs: readonly ConfigLocation[];
  projectSources: readonly ProjectSource[];
  /** One raw entry of one of this app's files, validated and normalised. */
  normalize: (entry: RawEntry) => NormalizeResult;
  enforcement: Enforcement;
}
