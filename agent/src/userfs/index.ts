// The userfs room: every read and write the root daemon does under a user's home runs with that
// user's own credentials (a long-lived helper process per user that dropped to the user's uid, gid
// and groups) along a path walked with no symbolic link followed at any component; and the chain
// check for the files the daemon itself owns outside any home.
export { UserFsPool, supplementaryGroups, type UserFsPoolOptions } from './pool.ts';
export { LocalUserFs, type LocalUserFsOptions } from './local.ts';
export { loadAtOps, walkFor, Walker, type AtOps, type OpenDir, type WalkKind } from './walk.ts';
export { HelperUserFs, helperCommand, HELPER_HEAP_MB, type AgentRuntime, type HelperChild, type HelperCommand, type HelperSpawner, type HelperUserFsOptions } from './client.ts';
export { environmentBlock, quoteWindowsArg, windowsCommandLine, windowsHelperEnv, windowsHelperSpawner, type SpawnAsUser } from './windows.ts';
export { runUserFsHelper, checkWindowsAccount, dropPrivileges, parseHelperArgs, helperArgs, USERFS_HELPER_ARG, type HelperIdentity } from './helper.ts';
export { checkSystemChain, UnsafeSystemPathError } from './system-chain.ts';
export { streamJsonSelection } from './json-paths.ts';
export { UserFsError, type FileInfo, type FsUser, type ReadOptions, type ReadResult, type StreamSelection, type UserFs, type UserFsErrorCode } from './types.ts';
