// The userfs room's contract: file work under a user's home done as that user, along a path walked
// with no symbolic link followed. The mcp room reads and writes through this interface only.

/** What a caller learns about a file, from fstat of the very descriptor that was read. */
export interface FileInfo {
  size: number;
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}

/** What of a large JSON file to keep when it is streamed rather than read whole. */
export interface StreamSelection {
  /** `@streamparser/json` paths whose values are kept (`$.mcpServers`, `$.projects.*.mcpServers`). */
  paths: readonly string[];
  /** Objects whose keys alone are kept, each as `{}` (`$.projects`: the project folders). */
  keys?: readonly string[];
}

export interface ReadOptions {
  /** Files larger than this are streamed (when `stream` says what to keep) or not read. */
  limit: number;
  stream?: StreamSelection;
}

export type ReadResult =
  | { kind: 'bytes'; info: FileInfo; bytes: Buffer }
  | { kind: 'streamed'; info: FileInfo; doc: Record<string, unknown> }
  | { kind: 'too-large'; info: FileInfo };

export type UserFsErrorCode =
  /** A component of the path, or the file itself, is a symbolic link (loops included). */
  | 'symlink'
  | 'not-a-file'
  /** The kernel refused the user (EACCES/EPERM): the file is not the user's to touch. */
  | 'denied'
  | 'parse'
  | 'io'
  /** The helper process could not be started or died. */
  | 'helper';

export class UserFsError extends Error {
  readonly code: UserFsErrorCode;
  constructor(code: UserFsErrorCode, message: string) {
    super(message);
    this.name = 'UserFsError';
    this.code = code;
  }
}

/**
 * File work for one user. Paths are `anchor` (a folder reached the ordinary way: the user's home,
 * a project folder) plus `rel`, a relative path whose every component is opened without following
 * a symbolic link. Missing files read as undefined; every refusal is a UserFsError.
 */
export interface UserFs {
  read(anchor: string, rel: string, options: ReadOptions): Promise<ReadResult | undefined>;
  /** Atomically replaces (or creates) `rel` in its existing folder: temporary file, then rename. */
  replace(anchor: string, rel: string, data: Buffer, options: { mode: number }): Promise<void>;
  /** Removes `rel` (a file, never a folder) from the folder reached by the same walk; nothing when absent. */
  remove(anchor: string, rel: string): Promise<void>;
}

/** The account a UserFs acts for. */
export interface FsUser {
  name: string;
  /** POSIX ids; -1 on Windows. */
  uid: number;
  gid: number;
  /** Windows: the account's SID (the helper is started with the token of this account's logon session). */
  sid?: string;
}
