#!/usr/bin/env node
// The `heimdall-gateway` command: the reference central gateway. Node runs the TypeScript sources
// directly (type stripping is on by default from 22.18); an older Node is told what to do instead.
import { requireSourceNode } from './node-check.js';

requireSourceNode('heimdall-gateway', import.meta.filename ?? new URL(import.meta.url).pathname);
await import('../gateway/src/cli/main.ts');
