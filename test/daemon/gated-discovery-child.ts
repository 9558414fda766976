// A real daemon (the same startDaemon `heimdall run` calls) whose first MCP discovery waits until
// "go" arrives on stdin, so a test can watch `heimdall status` while discovery is provably unfinished.
// argv: <state dir> <config file> <proxy port>
import { startDaemon } from '../../agent/src/daemon/index.ts';

const [stateDir, configFile, proxyPort] = process.argv.slice(2) as [string, string, string];
const gate = new Promise<void>((resolve) => {
  let seen = '';
  process.stdin.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
    if (seen.includes('go')) resolve();
  });
});
const daemon = await startDaemon({ stateDir, configFile, flags: { proxyPort }, beforeMcpDiscovery: () => gate });
daemon.lifecycle.installSignalHandlers();
