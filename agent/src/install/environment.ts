// The machine-wide environment for terminal agents, in each OS's file format. The variable list is
// the one `heimdall env` prints (intercept's buildProxyEnvironment), never a copy of it.
import { buildProxyEnvironment, formatShellExports } from '../intercept/index.ts';
import type { ProxyFacts } from './types.ts';

export function proxyVariables(facts: ProxyFacts): Array<[string, string]> {
  return buildProxyEnvironment({ proxyUrl: facts.proxyUrl, caCertPath: facts.caCertPath, caBundlePath: facts.caBundlePath });
}

const HEADER = '# Written by `heimdall install`; `heimdall uninstall` removes it. Sends terminal AI tools through Heimdall.';

/** /etc/profile.d/heimdall.sh (and the macOS shell file): POSIX sh exports. */
export function shellProfile(facts: ProxyFacts): string {
  return `${HEADER}\n${formatShellExports(proxyVariables(facts), 'sh')}`;
}

/** /etc/environment.d/*.conf: KEY=VALUE lines systemd gives user sessions (no quoting, no spaces in our values). */
export function environmentD(facts: ProxyFacts): string {
  return `${HEADER}\n${proxyVariables(facts).map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
}

/** Claude Code's managed-settings.d drop-in: its `env` block reaches every session, whatever the shell. */
export function claudeCodeManagedEnv(facts: ProxyFacts): string {
  return `${JSON.stringify({ env: Object.fromEntries(proxyVariables(facts)) }, null, 2)}\n`;
}
