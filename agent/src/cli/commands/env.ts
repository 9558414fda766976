// `heimdall env`: prints the shell lines that put a terminal's programs on the governed proxy.
import path from 'node:path';
import type { Command } from 'commander';
import { buildProxyEnvironment, formatShellExports, type ProxyEnvironmentInput, type Shell } from '../../lib/proxy-environment.ts';

const SHELLS: readonly Shell[] = ['sh', 'fish', 'powershell'];

/** The shell to format for: explicit choice, else guessed from $SHELL / the platform. */
export function detectShell(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env, platform = process.platform): Shell {
  if (explicit !== undefined) {
    if ((SHELLS as readonly string[]).includes(explicit)) return explicit as Shell;
    throw new Error(`--shell: expected one of ${SHELLS.map((s) => `"${s}"`).join(', ')}, got ${JSON.stringify(explicit)}`);
  }
  const login = path.basename(env.SHELL ?? '');
  if (login === 'fish') return 'fish';
  if (login === 'pwsh' || login === 'powershell') return 'powershell';
  if (!login && platform === 'win32') return 'powershell';
  return 'sh';
}

/** The text `heimdall env` prints: exports plus a comment saying how to apply them. */
export function renderEnv(input: ProxyEnvironmentInput, shell: Shell): string {
  const how = shell === 'fish' ? 'heimdall env --shell fish | source'
    : shell === 'powershell' ? 'heimdall env --shell powershell | Invoke-Expression'
    : 'eval "$(heimdall env)"';
  return `# Heimdall: route this shell's AI tools through the governed proxy. Apply with: ${how}\n${formatShellExports(buildProxyEnvironment(input), shell)}`;
}

/**
 * Registers `heimdall env`. `resolve` asks the daemon (local API) for the proxy URL and CA paths;
 * the lead's wiring supplies it, so this module never guesses where the daemon is.
 */
export function registerEnv(program: Command, resolve: (options: Record<string, unknown>) => Promise<ProxyEnvironmentInput>): Command {
  return program
    .command('env')
    .description("Print shell exports that send this shell's AI tools through Heimdall's proxy")
    .option('--shell <shell>', `shell syntax: ${SHELLS.join(', ')} (default: from $SHELL)`)
    .addHelpText('after', '\nExamples:\n  eval "$(heimdall env)"\n  heimdall env --shell fish | source\n  heimdall env --shell powershell | Invoke-Expression\n')
    .action(async (opts: Record<string, unknown> & { shell?: string }) => {
      let shell: Shell;
      try {
        shell = detectShell(opts.shell);
      } catch (err) {
        console.error(`heimdall env: ${(err as Error).message}`);
        process.exitCode = 2;
        return;
      }
      process.stdout.write(renderEnv(await resolve(opts), shell));
    });
}
