// Entry point of `heimdall-gateway` (bin/heimdall-gateway.js imports this file).
import { runCli } from './program.ts';

await runCli(process.argv);
