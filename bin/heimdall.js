#!/usr/bin/env node
// The `heimdall` command: the agent daemon and its CLI. Node runs the TypeScript sources directly
// (type stripping is on by default from 22.18; on 22.12-22.17 pass --experimental-strip-types).
if (!process.features.typescript) {
  console.error(`heimdall: Node ${process.version} does not strip TypeScript types by default; run it as \`node --experimental-strip-types ${process.argv[1]}\` or use Node 22.18 or newer.`);
  process.exit(1);
}
await import('../agent/src/cli/main.ts');
