// `heimdall whoami`: who this OS user is signed in as at the organization's gateway (GET /v1/whoami),
// how, until when, and the last refresh failure with its fix. Never a token.
import type { Command } from 'commander';
import { socketPathFor, withDaemonLocation, type DaemonLocation } from '../local-daemon.ts';
import { LOGIN_EXIT_CODES, SignInFailure, whoami, type WhoAmIReply } from '../sign-in.ts';

export function renderWhoAmI(w: WhoAmIReply): string {
  if (!w.signed_in) return `OS user ${w.os_user ?? '?'} is not signed in to the organization's AI gateway: run \`heimdall login\``;
  const who = w.user?.email ?? w.user?.name ?? w.user?.id ?? 'a gateway user';
  const lines = [`${who} (OS user ${w.os_user ?? '?'}), signed in with ${w.method === 'sso' ? 'single sign-on' : 'a virtual key'}`];
  if (w.access_expires_at) lines.push(`access token valid until ${w.access_expires_at} (refreshed automatically)`);
  if (w.refresh_error) lines.push(`problem: ${w.refresh_error}`);
  return lines.join('\n');
}

export function registerWhoami(program: Command): void {
  withDaemonLocation(
    program
      .command('whoami')
      .description("Show who this OS user is signed in as at the organization's AI gateway")
      .option('--json', 'print the answer as JSON'),
  )
    .addHelpText('after', `\nExit codes: ${LOGIN_EXIT_CODES.signed_in} signed in, ${LOGIN_EXIT_CODES.daemon_not_running} daemon not running, ${LOGIN_EXIT_CODES.not_signed_in} not signed in, ${LOGIN_EXIT_CODES.failed} other errors.\n\nExample:\n  heimdall whoami\n`)
    .action(async (opts: DaemonLocation & { json?: boolean }) => {
      try {
        const w = await whoami({ socket: socketPathFor(opts), location: opts, io: { say: console.log, warn: console.error } });
        console.log(opts.json ? JSON.stringify(w, null, 2) : renderWhoAmI(w));
        process.exitCode = w.signed_in ? LOGIN_EXIT_CODES.signed_in : LOGIN_EXIT_CODES.not_signed_in;
      } catch (err) {
        if (!(err instanceof SignInFailure)) throw err;
        console.error(`heimdall whoami: ${err.message}`);
        process.exitCode = LOGIN_EXIT_CODES[err.outcome];
      }
    });
}
