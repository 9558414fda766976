// `heimdall request-access APP --reason TEXT`: asks the organization for an app a block message named.
// It goes to the daemon's local API (which knows who is asking from the kernel) and on over the sync
// channel to the gateway's approval queue, so the person needs no admin access.
import type { Command } from 'commander';
import { callLocalApi, DaemonUnreachableError } from '../../localapi/index.ts';
import { socketPathFor, withDaemonLocation, type DaemonLocation } from '../local-daemon.ts';

interface RequestAccessReply {
  display_name?: string;
  sent?: boolean;
  error?: string;
}

export function registerRequestAccess(program: Command): void {
  withDaemonLocation(
    program
      .command('request-access')
      .description('Ask your organization for an app that is blocked or waiting for approval; IT sees your reason in its approval queue')
      .argument('[app]', 'the app id the block message names (e.g. claude-code)')
      .option('--mcp <fingerprint>', 'ask for an MCP server instead: its fingerprint as `heimdall mcp` shows it')
      .requiredOption('--reason <text>', 'why you need it, in a sentence'),
  )
    .addHelpText('after', '\nExamples:\n  heimdall request-access codex-cli --reason "code review for the payments team"\n  heimdall request-access --mcp sha256:3f2a... --reason "the ticket tracker for on-call"\n')
    .action(async (app: string | undefined, opts: DaemonLocation & { reason: string; mcp?: string }) => {
      if ((app === undefined) === (opts.mcp === undefined)) {
        console.error('heimdall request-access: name one app (heimdall request-access APP) or one MCP server (--mcp FINGERPRINT)');
        process.exitCode = 1;
        return;
      }
      try {
        const item = opts.mcp !== undefined ? { mcp: opts.mcp } : { app };
        const reply = await callLocalApi<RequestAccessReply>(socketPathFor(opts), 'POST', '/v1/request-access', { ...item, reason: opts.reason });
        if (reply.status !== 202) {
          console.error(`heimdall request-access: ${reply.body?.error ?? `the daemon answered ${reply.status}`}`);
          process.exitCode = reply.status === 503 ? 5 : 1;
          return;
        }
        console.log(`Asked your IT team for ${reply.body.display_name ?? app ?? opts.mcp}. When they approve it, it will work with no action from you.`);
      } catch (err) {
        if (err instanceof DaemonUnreachableError) {
          console.error(`heimdall request-access: ${err.message}`);
          process.exitCode = 3;
          return;
        }
        throw err;
      }
    });
}
