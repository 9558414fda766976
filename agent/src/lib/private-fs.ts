// The agent's path to the shared private-file helpers (lib/private-fs.ts): kept so the daemon's rooms
// import them from their own lib/ as before.
export { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, ensurePrivateDirSync, ensurePrivateDir, writeFileAtomic, isSymlink, type AtomicWriteOptions } from '../../../lib/index.ts';
