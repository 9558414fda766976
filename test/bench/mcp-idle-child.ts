// The MCP idle-CPU measurement in a process of its own (test/bench/mcp.ts benchIdleCpu): argv
// seconds, projects, settle seconds; answers over IPC and exits.
import { measureIdleCpu } from './mcp.ts';

const [seconds, projects, settle] = process.argv.slice(2).map(Number);
const result = await measureIdleCpu(seconds!, projects!, settle!);
process.send!(result, () => process.exit(0));
