// docs/protocol.md is authoritative only while its JSON Schemas are the ones the code enforces.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { protocolSchemaDocs, renderSchemaBlocks } from '../../protocol/index.ts';

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

describe('docs/protocol.md', () => {
  it('carries a schema block for every message, each identical to the schema generated from the code', () => {
    const { markdown, missing, unknown } = renderSchemaBlocks(doc);
    expect(missing).toEqual([]);
    expect(unknown).toEqual([]);
    // On failure: run `node protocol/render-docs.ts` and commit docs/protocol.md with the code change.
    expect(markdown).toBe(doc);
  });

  it('detects a drifted block', () => {
    const first = protocolSchemaDocs()[0]!;
    const drifted = doc.replace(first.json, first.json.replace('"hostname"', '"host_name"'));
    expect(drifted).not.toBe(doc);
    expect(renderSchemaBlocks(drifted).markdown).toBe(doc);
  });
});
