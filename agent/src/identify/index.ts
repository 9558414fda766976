// The identify room: which process, OS user and app is behind a proxy connection.
// Door for the daemon (createProcessResolver, AppResolver) and for tests (the per-OS parsers).
import type { Logger } from '../lib/logger.ts';
import { DarwinProcessResolver } from './darwin.ts';
import { LinuxProcessResolver } from './linux.ts';
import type { ProcessResolver } from './types.ts';
import { WindowsProcessResolver } from './windows.ts';

export type { PeerQuery, ProcessIdentity, ProcessResolver } from './types.ts';
export {
  APP_CATALOG,
  APP_KINDS,
  APPLE_PLATFORM_TEAM,
  CONSUMER_SURFACES,
  INTERPRETERS,
  type AppKind,
  type CatalogApp,
  type CatalogAppId,
  type InterpreterRule,
  type OsName,
  type Proof,
  type ProofKind,
} from './catalog.ts';
export { RootPathChecker, checkRootOnlyPath, walkRootOnlyPath, onlyRootCanWrite, preloadsCode, verifyIdentity, type MatchedProgram, type RootFolders, type RootPathResult, type Verification } from './verify.ts';
export {
  AppResolver,
  ExecutableHasher,
  UNKNOWN_APP_ID,
  findScriptArgument,
  interpreterFor,
  matchCatalog,
  normalizePathForId,
  userAgentApp,
  type AppResolverOptions,
  type MatchedBy,
  type ResolvedApp,
  type ResolveHints,
  type ScriptArgument,
} from './resolve-app.ts';
export { LinuxProcessResolver, loadSockDiag, type LinuxProcessResolverOptions, type SockDiag } from './linux.ts';
export { DarwinProcessResolver, type DarwinProcessResolverOptions } from './darwin.ts';
export { WindowsProcessResolver, type WindowsProcessResolverOptions } from './windows.ts';
export type { CommandResult, CommandRunner } from './run-command.ts';
// Per-OS command builders and pure parsers, for tests on recorded output and for support tooling.
export * as linux from './linux.ts';
export * as darwin from './darwin.ts';
export * as windows from './windows.ts';

export interface CreateProcessResolverOptions {
  logger?: Logger;
}

/** The resolver for this OS, chosen once at start-up. */
export function createProcessResolver(platform: string = process.platform, options: CreateProcessResolverOptions = {}): ProcessResolver {
  const logger = options.logger ? { logger: options.logger.child({ room: 'identify' }) } : {};
  switch (platform) {
    case 'linux':
      return new LinuxProcessResolver(logger);
    case 'darwin':
      return new DarwinProcessResolver(logger);
    case 'win32':
      return new WindowsProcessResolver(logger);
    default:
      throw new Error(`process identification is not supported on ${platform}; supported: linux, darwin, win32`);
  }
}
