#!/usr/bin/env node
// The `heimdall` command: the agent daemon and its CLI. Node runs the TypeScript sources directly
// (type stripping is on by default from 22.18); an older Node is told what to do instead.
import { requireSourceNode } from './node-check.js';

requireSourceNode('heimdall', import.meta.filename ?? new URL(import.meta.url).pathname);
await import('../agent/src/cli/main.ts');
