// `heimdall status`: one screen that says whether AI traffic on this machine is governed, and why not.
import type { Command } from 'commander';
import { NOT_GOVERNED_REASONS, OTHER_ERROR_EXIT_CODE, STATUS_EXIT_CODES, type DaemonStatus, type GovernanceReason } from '../../daemon/index.ts';
import { callLocalApi, DaemonUnreachableError } from '../../localapi/index.ts';
import { socketPathFor, withDaemonLocation, type DaemonLocation } from '../local-daemon.ts';


// What each reason means, for `heimdall status --help` (the docs' table says the same).
const REASON_MEANINGS: Record<GovernanceReason, string> = {
  governed: 'AI traffic on this machine goes through the gateway',
  daemon_not_running: 'the daemon is not running or its local API does not answer',
  not_configured: 'no gateway_url is configured',
  interception_off: 'intercept = false, or the proxy could not start',
  not_signed_in: 'nobody on this machine has signed in (or the device was revoked)',
  gateway_unreachable: 'the sync channel to the gateway is not connected',
  policy_stale: 'no policy from the gateway yet, or none confirmed for 24 h',
};

const EXIT_CODES_HELP = [
  '',
  'Exit codes (the first reason that applies, in this order):',
  ...(['governed', ...NOT_GOVERNED_REASONS] as const).map((r) => `  ${STATUS_EXIT_CODES[r]}  ${r}: ${REASON_MEANINGS[r]}`),
  `  ${OTHER_ERROR_EXIT_CODE}  any other error`,
  '--json prints one object: governed, reason, reasons (all that apply), signed_in_users, agent.version, ...',
  '',
].join('\n');

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
    lines.push(`AI traffic: NOT governed (${s.reasons.join(', ')})`);
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
    .addHelpText('after', `${EXIT_CODES_HELP}\nExamples:\n  heimdall status\n  heimdall status --json --state-dir /tmp/heimdall-dev\n`)
    .action(async (opts: DaemonLocation & { json?: boolean }) => {
      let status: DaemonStatus;
      try {
        const reply = await callLocalApi<DaemonStatus>(socketPathFor(opts), 'GET', '/v1/status');
        if (reply.status !== 200) throw new Error(`the daemon answered ${reply.status} to /v1/status: ${JSON.stringify(reply.body)}`);
        status = reply.body;
      } catch (err) {
        const notRunning = err instanceof DaemonUnreachableError;
        const message = (err as Error).message;
        if (opts.json) {
          // Scripts always get one object; `error` is not one of the contract's reasons but says "none of them is known".
          const reason = notRunning ? 'daemon_not_running' : 'error';
          console.log(JSON.stringify({ governed: false, reason, reasons: [reason], signed_in_users: [], ...(notRunning ? { running: false } : {}), error: message }, null, 2));
        } else if (notRunning) {
          console.error(`${message}\nAI traffic is NOT governed. Start it with your service manager, or for development: heimdall run --state-dir DIR`);
        } else {
          console.error(`heimdall status: ${message}`);
        }
        process.exitCode = notRunning ? STATUS_EXIT_CODES.daemon_not_running : OTHER_ERROR_EXIT_CODE;
        return;
      }
      console.log(opts.json ? JSON.stringify(status, null, 2) : renderStatus(status));
      process.exitCode = STATUS_EXIT_CODES[status.reason] ?? OTHER_ERROR_EXIT_CODE;
    });
}
