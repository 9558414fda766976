#!/usr/bin/env node
// The `heimdall-mdm` command: generates MDM profiles, packages' wrappers, scripts and guides. Node runs
// the TypeScript sources directly (22.18+); an older Node is told what to do instead.
import { requireSourceNode } from './node-check.js';

requireSourceNode('heimdall-mdm', import.meta.filename ?? new URL(import.meta.url).pathname);
const { runMdmCli } = await import('../mdm-profiles/src/index.ts');
await runMdmCli(process.argv.slice(2));
