// Regenerates the JSON Schema blocks of docs/protocol.md from the zod schemas:
//   node protocol/render-docs.ts          rewrite the file
//   node protocol/render-docs.ts --check  exit 1 when the file is out of date
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderSchemaBlocks } from './json-schema.ts';

const file = fileURLToPath(new URL('../docs/protocol.md', import.meta.url));
const current = readFileSync(file, 'utf8');
const { markdown, missing, unknown } = renderSchemaBlocks(current);
if (missing.length > 0) console.error(`docs/protocol.md has no schema block for: ${missing.join(', ')}`);
if (unknown.length > 0) console.error(`docs/protocol.md has blocks naming no schema: ${unknown.join(', ')}`);
if (process.argv.includes('--check')) {
  if (markdown !== current || missing.length > 0 || unknown.length > 0) {
    console.error('docs/protocol.md is out of date: run `node protocol/render-docs.ts`');
    process.exit(1);
  }
} else if (markdown !== current) {
  writeFileSync(file, markdown);
  console.log('docs/protocol.md: schema blocks regenerated');
}
if (missing.length > 0 || unknown.length > 0) process.exit(1);
