// `heimdall logout`: signs this OS user out on this machine (POST /v1/logout): their SSO tokens and
// virtual key are gone from the daemon at once, and the SSO refresh family is revoked at the gateway.
// The daemon takes the user from the kernel; only root may name another user (`--user`, a departed account).
import type { Command } from 'commander';
import { callLocalApi, DaemonUnreachableError } from '../../localapi/index.ts';
import { socketPathFor, withDaemonLocation, type DaemonLocation } from '../local-daemon.ts';

interface LogoutReply {
  os_user?: string;
  signed_out?: boolean;
  /** Whether the gateway confirmed the revocation of the SSO sign-in (null: there was none). */
  revoked?: boolean | null;
  revoke_error?: string;
  error?: string;
}

export function registerLogout(program: Command): void {
  withDaemonLocation(
    program
      .command('logout')
      .description("Sign this OS user out of the organization's AI gateway on this machine (root: --user NAME signs out another user)")
      .option('--user <name>', 'the OS user to sign out (root only)'),
  )
    .addHelpText('after', '\nExamples:\n  heimdall logout\n  sudo heimdall logout --user departed-employee\n')
    .action(async (opts: DaemonLocation & { user?: string }) => {
    try {
      const reply = await callLocalApi<LogoutReply>(socketPathFor(opts), 'POST', '/v1/logout', opts.user !== undefined ? { os_user: opts.user } : {});
      if (reply.status !== 200) {
        console.error(`heimdall logout: ${reply.body?.error ?? `the daemon answered ${reply.status}`}`);
        process.exitCode = 1;
        return;
      }
      console.log(reply.body.signed_out ? `Signed out OS user ${reply.body.os_user ?? '?'}.` : `OS user ${reply.body.os_user ?? '?'} was not signed in.`);
      if (reply.body.revoked === false) {
        // Signed out here all the same; the refresh token dies at its idle limit or when IT revokes the user.
        console.error(`heimdall logout: the gateway could not be told to revoke the sign-in (${reply.body.revoke_error ?? 'no answer'}); it is gone from this machine`);
      }
    } catch (err) {
      if (err instanceof DaemonUnreachableError) {
        console.error(`heimdall logout: ${err.message}`);
        process.exitCode = 3;
        return;
      }
      throw err;
    }
  });
}
