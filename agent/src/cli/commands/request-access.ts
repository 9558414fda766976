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
      .argument('<app>', 'the app id the block message names (e.g. claude-code)')
      .requiredOption('--reason <text>', 'why you need it, in a sentence'),
  )
    .addHelpText('after', '\nExample:\n  heimdall request-access codex-cli --reason "code review for the payments team"\n')
    .action(async (app: string, opts: DaemonLocation & { reason: string }) => {
      try {
        const reply = await callLocalApi<RequestAccessReply>(socketPathFor(opts), 'POST', '/v1/request-access', { app, reason: opts.reason });
        if (reply.status !== 202) {
          console.error(`heimdall request-access: ${reply.body?.error ?? `the daemon answered ${reply.status}`}`);
          process.exitCode = reply.status === 503 ? 5 : 1;
          return;
        }
        console.log(`Asked your IT team for ${reply.body.display_name ?? app}. When they approve it, it will work with no action from you.`);
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
