// Loads a native addon embedded in the single-file executable (a SEA asset, installer/). dlopen needs
// a file, so the bytes are written into a fresh directory that mkdtemp creates 0700 for this process's
// user alone (root's, for the daemon), loaded, and the directory removed at once: Linux keeps a
// loaded library mapped after its file is gone, and no other user could have swapped it meanwhile.
// Windows cannot delete a loaded DLL, so there the folder stays until the next start of the machine's
// temporary-file cleanup; the Windows addon imports only KnownDLLs and a DLL node.exe has already
// loaded, so nothing a user drops beside it is ever loaded (installer/src/executables/addon.ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

type SeaModule = { isSea(): boolean; getRawAsset(key: string): ArrayBuffer };

/** The addon's exports; undefined when this is not an executable or it embeds no asset of that name. */
export function loadEmbeddedAddon(name: string): unknown {
  const sea = process.getBuiltinModule('node:sea') as SeaModule | undefined;
  if (!sea?.isSea()) return undefined;
  let bytes: ArrayBuffer;
  try {
    bytes = sea.getRawAsset(name);
  } catch {
    return undefined; // this target embeds no such addon
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-addon-'));
  try {
    const file = path.join(dir, name);
    fs.writeFileSync(file, new Uint8Array(bytes), { mode: 0o500, flag: 'wx' });
    const module = { exports: {} as unknown };
    process.dlopen(module, file);
    return module.exports;
  } finally {
    if (process.platform !== 'win32') fs.rmSync(dir, { recursive: true, force: true });
  }
}
