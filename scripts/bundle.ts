// Bundles the agent (its CLI and daemon) into an ES module, dist/heimdall.mjs, and the chunks it loads
// on demand (dist/heimdall-chunks/): plain JavaScript, so Node does not strip TypeScript types at
// start-up, and a few files instead of hundreds of module loads. The agent's store uses node:sqlite; better-sqlite3 (the
// gateway's connection, never loaded by the agent) stays external. Run with `node scripts/bundle.ts [outfile]`; the benchmark uses it to measure the
// bundled daemon's memory next to the one run from source.
import { readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

/**
 * Loads node:http through require() instead of as an ES module. Node builds an ES module facade of a
 * built-in by reading every export, and node:http's `WebSocket`, `CloseEvent` and `MessageEvent` are
 * lazy getters that load all of undici (and compile its WebAssembly HTTP parser): about 7-11 MB of
 * resident memory in a daemon that never uses them. require() returns the module without reading
 * its getters; the named exports are the module's plain (non-getter) properties.
 */
function builtinsViaRequire(names: readonly string[]): Plugin {
  const nodeRequire = createRequire(import.meta.url);
  const filter = new RegExp(`^(node:)?(${names.join('|')})$`);
  return {
    name: 'builtins-via-require',
    setup(b) {
      // Only ES imports are redirected; the require() in the generated module stays Node's own.
      b.onResolve({ filter }, (args) => args.kind === 'import-statement' || args.kind === 'dynamic-import'
        ? { path: args.path.replace(/^node:/, ''), namespace: 'builtin-via-require' }
        : { path: args.path, external: true });
      b.onLoad({ filter: /.*/, namespace: 'builtin-via-require' }, (args) => {
        const mod = nodeRequire(`node:${args.path}`) as object;
        const plain = Object.keys(mod).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k) && !Object.getOwnPropertyDescriptor(mod, k)?.get);
        return {
          contents: `const m = require('node:${args.path}');\nexport default m;\nexport const { ${plain.join(', ')} } = m;\n`,
          loader: 'js',
        };
      });
    },
  };
}

const root = fileURLToPath(new URL('..', import.meta.url));

/** Where the chunks go, beside the entry (agent/src/lib/sockdiag-addon.ts looks for the addon from there too). */
export const CHUNKS_FOLDER = 'heimdall-chunks';

/** What the bundle ships, in bytes: the entry and every chunk beside it (not the source maps). */
export function bundleBytes(outfile: string): number {
  const chunks = path.join(path.dirname(outfile), CHUNKS_FOLDER);
  const chunkFiles = readdirSync(chunks).filter((f) => f.endsWith('.mjs'));
  return chunkFiles.reduce((sum, f) => sum + statSync(path.join(chunks, f)).size, statSync(outfile).size);
}

/**
 * `sourcemap`: also write OUTFILE.map (the bundle itself is unchanged: no comment points at it), so a
 * CPU profile of the shipped bundle can be read by source file (test/bench/shipped.ts).
 */
export async function bundleAgent(outfile = path.join(root, 'dist', 'heimdall.mjs'), options: { sourcemap?: boolean } = {}): Promise<string> {
  // Chunk names carry a hash of their content: drop the previous build's so none is left behind.
  rmSync(path.join(path.dirname(outfile), CHUNKS_FOLDER), { recursive: true, force: true });
  await build({
    sourcemap: options.sourcemap === true ? 'external' : false,
    // The entry (agent/src/cli/main.ts) imports the launcher's fast path and the rest of the CLI on
    // demand; split, each lands in its own chunk beside OUTFILE (heimdall-chunks/), so `heimdall exec`
    // and `heimdall env` read and compile ~25 KB instead of the whole 2 MB (docs/performance.md,
    // "The launcher"). Modules both paths use share a chunk.
    entryPoints: { [path.basename(outfile, path.extname(outfile))]: path.join(root, 'agent/src/cli/main.ts') },
    outdir: path.dirname(outfile),
    outExtension: { '.js': path.extname(outfile) || '.mjs' },
    splitting: true,
    chunkNames: `${CHUNKS_FOLDER}/[name]-[hash]`,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    external: ['better-sqlite3'],
    // jsonc-parser's `main` is a UMD build whose internal requires a bundler cannot follow; its ESM
    // entry (`module`) bundles cleanly.
    mainFields: ['module', 'main'],
    // CommonJS dependencies call require() for Node's built-ins; an ES module has none of its own.
    banner: { js: "import { createRequire as __heimdallCreateRequire } from 'node:module';\nconst require = __heimdallCreateRequire(import.meta.url);" },
    plugins: [builtinsViaRequire(['http', 'fs'])],
    // The whole bundle's text stays in the heap as the module's source. Minified and pure ASCII it
    // is a one-byte string of ~1 MB instead of a two-byte one of over 5 MB (a single non-ASCII
    // character in a comment makes V8 store all of it at two bytes a character). Identifiers keep
    // their names so stack traces and logged errors stay readable.
    minifyWhitespace: true,
    minifySyntax: true,
    charset: 'ascii',
    legalComments: 'linked',
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await bundleAgent(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
  console.log(`bundled ${path.relative(process.cwd(), out)}`);
}
