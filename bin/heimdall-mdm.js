#!/usr/bin/env node
// The `heimdall-mdm` command: generates MDM profiles, packages' wrappers, scripts and guides.
if (!process.features.typescript) {
  console.error(`heimdall-mdm: Node ${process.version} does not strip TypeScript types by default; run it as \`node --experimental-strip-types ${process.argv[1]}\` or use Node 22.18 or newer.`);
  process.exit(1);
}
const { runMdmCli } = await import('../mdm-profiles/src/index.ts');
await runMdmCli(process.argv.slice(2));
