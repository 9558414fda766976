// The agent and its CLI as one CommonJS script, the form Node 22's single-executable applications
// run (their main script is CommonJS only). The agent's sources are ESM; the only top-level await
// was the CLI's, now an async main. `import.meta.url` has no CommonJS meaning, so it is defined as
// the script's own file URL (in an executable, the executable's path).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export interface BuildStamp {
  /** package.json's version. */
  version: string;
  /** The git commit built (`-dirty` when the worktree had changes), or `unknown` outside git. */
  commit: string;
}

export async function bundleForExecutable(outfile: string, stamp: BuildStamp): Promise<string> {
  await build({
    entryPoints: [path.join(ROOT, 'agent/src/cli/main.ts')],
    outfile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node22',
    // Only the gateway's default connection names better-sqlite3 (loaded with createRequire, which
    // esbuild leaves alone); marking it external keeps a stray static import from pulling it in.
    external: ['better-sqlite3'],
    mainFields: ['module', 'main'],
    define: {
      'import.meta.url': '__heimdallImportMetaUrl',
      HEIMDALL_COMMIT: JSON.stringify(stamp.commit),
    },
    banner: { js: "var __heimdallImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    // As in scripts/bundle.ts: minified, pure ASCII (a one-byte string in V8's heap), names kept
    // for readable stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    charset: 'ascii',
    legalComments: 'none',
    logLevel: 'error',
  });
  return outfile;
}
