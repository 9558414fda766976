// Shared by the `bin/` entry points. It runs on any Node (plain JavaScript, nothing to strip) so that an
// old Node gets a sentence naming what it found, what is needed and the one command that fixes it,
// instead of a stack trace from the first TypeScript file.
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..');

/** Exits with a message unless this Node runs the TypeScript sources (22.18+, or 22.12+ with the flag). */
export function requireSourceNode(command, entry) {
  if (process.features.typescript) return;
  const [major, minor] = process.versions.node.split('.').map(Number);
  const found = `found Node ${process.version} at ${process.execPath}`;
  const args = process.argv.slice(2).join(' ');
  const projectNode = path.join(root, '.tools/node/bin/node');
  const relEntry = path.relative(process.cwd(), entry) || entry;
  let fix;
  if (major === 22 && minor >= 12) {
    fix = `node --experimental-strip-types ${relEntry} ${args}`.trim();
  } else if (existsSync(projectNode)) {
    fix = `${path.relative(process.cwd(), projectNode)} ${relEntry} ${args}`.trim();
  } else {
    fix = `npm run setup   (fetches Node 22 from the npm registry into ${path.relative(process.cwd(), path.join(root, '.tools')) || '.tools'}/; then run ${command} with .tools/node/bin/node)`;
  }
  console.error(`${command}: ${found}; running ${command} from source needs Node 22.18 or newer.\n  Fix: ${fix}`);
  process.exit(1);
}
