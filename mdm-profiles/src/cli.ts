// The `heimdall-mdm` command: reads the admin's files, generates, writes.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { AppSettingsInput, GenerateOptions } from './context.ts';
import { GenerateInputError } from './context.ts';
import { exampleGuides, generateFiles, writeFiles } from './generate.ts';

function readInput(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new GenerateInputError(`${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function runMdmCli(argv: readonly string[]): Promise<void> {
  const program = new Command('heimdall-mdm').description('Generate what an MDM needs to install, trust, configure and start Heimdall');
  program
    .command('generate')
    .description('Write every vendor\'s files and guide to --out')
    .requiredOption('--gateway <url>', "the organization's Heimdall gateway URL")
    .requiredOption('--org <name>', 'organization name (also seeds the profiles\' stable UUIDs)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--ca <pem>', 'fleet CA certificate (gateway-held CA mode); without it, each device makes its own CA')
    .option('--support-url <url>', 'where blocked people are sent')
    .option('--control-url <url>', 'control plane URL, when not the gateway URL')
    .option('--team-id <id>', "Heimdall's Apple Developer Team ID, to pin the login-item rules")
    .option('--package <file>', 'a built package from dist/packages/ (repeatable)', collect, [])
    .option('--package-url <url>', 'where the packages are hosted, for the JumpCloud and Linux scripts')
    .option('--local-target-allowed <address[:port]>', 'a loopback, link-local or own address the proxy may reach for clients (repeatable; local_targets_allowed)', collect, [])
    .option('--app-settings <app=file>', 'an app\'s managed settings: claude-code=managed-settings.json, codex=requirements.toml (repeatable)', collect, [])
    .option('--sign-cert <pem>', 'certificate that signs the profiles (with --sign-key)')
    .option('--sign-key <pem>', 'its private key (read, never written out)')
    .addHelpText('after', '\nExample:\n  heimdall-mdm generate --gateway https://ai-gw.acme.com --org Acme --ca gateway-ca.pem \\\n    --package dist/packages/heimdall-0.1.0-win-x64.msi --out ./heimdall-mdm\n')
    .action((opts: Record<string, string | string[] | undefined>) => {
      const str = (k: string): string | undefined => opts[k] as string | undefined;
      if ((str('signCert') === undefined) !== (str('signKey') === undefined)) throw new GenerateInputError('--sign-cert and --sign-key go together: pass both to sign the profiles, or neither');
      const appSettings: AppSettingsInput[] = (opts['appSettings'] as string[]).map((pair) => {
        const eq = pair.indexOf('=');
        if (eq < 1) throw new GenerateInputError(`--app-settings ${pair}: expected app=file, e.g. claude-code=managed-settings.json`);
        const file = pair.slice(eq + 1);
        return { app: pair.slice(0, eq), file, text: readInput('--app-settings', file) };
      });
      const options: GenerateOptions = {
        gatewayUrl: str('gateway')!,
        organization: str('org')!,
        outLabel: str('out')!,
        version: packageVersion(),
        packages: opts['package'] as string[],
        appSettings,
        localTargetsAllowed: opts['localTargetAllowed'] as string[],
      };
      const ca = str('ca');
      if (ca !== undefined) options.caPem = readInput('--ca', ca);
      for (const [flag, key] of [['supportUrl', 'supportUrl'], ['controlUrl', 'controlUrl'], ['teamId', 'teamId'], ['packageUrl', 'packageUrl']] as const) {
        const v = str(flag);
        if (v !== undefined) options[key] = v;
      }
      const signCert = str('signCert');
      const signKey = str('signKey');
      if (signCert !== undefined && signKey !== undefined) options.signing = { certPem: readInput('--sign-cert', signCert), keyPem: readInput('--sign-key', signKey) };
      const files = generateFiles(options);
      writeFiles(str('out')!, files);
      console.log(`heimdall-mdm: wrote ${files.length} files to ${str('out')!}; start with its <vendor>/README.md`);
    });
  program
    .command('docs')
    .description('Write the per-vendor guides for example values (docs/deployment/)')
    .argument('<dir>', 'output folder')
    .action((dir: string) => writeFiles(dir, exampleGuides(packageVersion())));
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    console.error(`heimdall-mdm: ${err.message}`);
    process.exitCode = 2;
  }
}
