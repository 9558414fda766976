// `heimdall helper`: what the per-user autostart entry runs at sign-in. It tells the person whether
// their AI apps are signed in to the gateway and, when not, how to sign in here: the daemon's own
// answer (single sign-on, or a virtual key where the organization has no SSO).
import os from 'node:os';
import type { Command } from 'commander';
import type { DaemonStatus } from '../../daemon/index.ts';
import { callLocalApi, DaemonUnreachableError } from '../../localapi/index.ts';
import { socketPathFor, withDaemonLocation, type DaemonLocation } from '../local-daemon.ts';
import { spawnRunner } from '../../install/index.ts';

export interface HelperMessage {
  text: string;
  /** The `heimdall status` codes: 0 fine, 3 daemon not running, 4 not signed in. */
  code: 0 | 3 | 4;
}

/** What to tell `user`, from the daemon's status (undefined: the daemon did not answer). */
export function helperMessage(status: DaemonStatus | undefined, user: string): HelperMessage {
  if (!status) return { text: 'Heimdall is not running, so your AI apps are not reaching your organization\'s AI gateway. Ask IT support.', code: 3 };
  const section = status.sections['users'] as { signed_in?: { os_user: string; email: string | null }[]; sign_in_command?: string } | undefined;
  const users = section?.signed_in ?? [];
  const me = users.find((u) => u.os_user === user);
  const org = status.config.values.organization ? ` (${status.config.values.organization})` : '';
  if (me) return { text: `Heimdall: your AI apps are signed in to your organization's AI gateway${org} as ${me.email ?? user}.`, code: 0 };
  return { text: `Heimdall: you are not signed in to your organization's AI gateway${org}. To sign in, run ${section?.sign_in_command ?? '`heimdall login`'}.`, code: 4 };
}

// How a desktop session shows one line when no terminal is attached.
const NOTIFIERS: Partial<Record<NodeJS.Platform, (text: string) => string[]>> = {
  linux: (text) => ['notify-send', '--app-name=Heimdall', 'Heimdall', text],
  darwin: (text) => ['osascript', '-e', `display notification ${JSON.stringify(text)} with title "Heimdall"`],
};

export function registerHelper(program: Command): void {
  withDaemonLocation(
    program
      .command('helper')
      .description('Tell the signed-in person whether their AI apps are signed in (started at sign-in by the autostart entry)'),
  )
    .addHelpText('after', '\nExit codes as `heimdall status`: 0 signed in, 3 daemon not running, 4 not signed in.\n\nExample:\n  heimdall helper\n')
    .action(async (opts: DaemonLocation) => {
      let status: DaemonStatus | undefined;
      try {
        const reply = await callLocalApi<DaemonStatus>(socketPathFor(opts), 'GET', '/v1/status');
        if (reply.status === 200) status = reply.body;
      } catch (err) {
        if (!(err instanceof DaemonUnreachableError)) throw err;
      }
      const message = helperMessage(status, os.userInfo().username);
      console.log(message.text);
      const notify = NOTIFIERS[process.platform];
      if (!process.stdout.isTTY && notify) await spawnRunner(notify(message.text));
      process.exitCode = message.code;
    });
}
