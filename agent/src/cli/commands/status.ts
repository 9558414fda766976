// `heimdall status`: one screen that says whether AI traffic on this machine is governed, and why not.
import type { Command } from 'commander';
import type { DaemonStatus } from '../../daemon/index.ts';
import { callLocalApi, DaemonUnreachableError } from '../../localapi/index.ts';
import { socketPathFor, withDaemonLocation, type DaemonLocation } from '../local-daemon.ts';

function formatDuration(seconds: number): string {
  if (seconds < 90) return `${seconds}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

// How each status section is called on screen; sections without a row here use their JSON name.
const SECTION_LABELS: Record<string, string> = {
  interception: 'Interception',
  sync: 'Gateway link',
  policy: 'Policy',
  users: 'Signed in',
  mcp: 'MCP servers',
};

export function renderStatus(s: DaemonStatus): string {
  const lines: string[] = [];
  lines.push(`Heimdall ${s.agent.version} is running (pid ${s.agent.pid}, up ${formatDuration(s.agent.uptime_s)}, ${s.agent.platform})`);
  if (s.governed) {
    lines.push('AI traffic: governed');
  } else {
    lines.push('AI traffic: NOT governed');
    for (const b of s.blockers) lines.push(`  - ${b}`);
  }
  const c = s.config.values;
  lines.push(`Gateway: ${c.gateway_url ?? '(not configured)'}${c.organization ? ` for ${c.organization}` : ''}`);
  lines.push(`Proxy: 127.0.0.1:${c.proxy_port}, CA mode ${c.ca_mode}, interception ${c.intercept ? 'on' : 'off'}`);
  const errors = s.config.problems.filter((p) => p.severity === 'error');
  const warnings = s.config.problems.filter((p) => p.severity === 'warning');
  if (errors.length + warnings.length > 0) {
    lines.push(`Configuration: ${errors.length} error(s), ${warnings.length} warning(s)`);
    for (const p of s.config.problems) lines.push(`  ${p.severity}: ${p.message}`);
  }
  for (const [name, section] of Object.entries(s.sections)) {
    const summary = (section as { summary?: unknown }).summary;
    if (typeof summary === 'string') lines.push(`${SECTION_LABELS[name] ?? name}: ${summary}`);
  }
  lines.push(`State: ${s.state_dir}`);
  return lines.join('\n');
}

export function registerStatus(program: Command): void {
  withDaemonLocation(
    program
      .command('status')
      .description('Show whether AI traffic on this machine is governed, and why not')
      .option('--json', 'print the full status as JSON'),
  )
    .addHelpText('after', '\nExit codes: 0 the daemon answered, 3 the daemon is not running.\n\nExample:\n  heimdall status\n  heimdall status --json --state-dir /tmp/heimdall-dev\n')
    .action(async (opts: DaemonLocation & { json?: boolean }) => {
      try {
        const reply = await callLocalApi<DaemonStatus>(socketPathFor(opts), 'GET', '/v1/status');
        if (reply.status !== 200) throw new Error(`the daemon answered ${reply.status}: ${JSON.stringify(reply.body)}`);
        console.log(opts.json ? JSON.stringify(reply.body, null, 2) : renderStatus(reply.body));
      } catch (err) {
        if (err instanceof DaemonUnreachableError) {
          if (opts.json) console.log(JSON.stringify({ running: false, error: err.message }));
          else console.error(`${err.message}\nAI traffic is NOT governed. Start it with your service manager, or for development: heimdall run --state-dir DIR`);
          process.exitCode = 3;
          return;
        }
        throw err;
      }
    });
}
