// What every generator reads: the admin's inputs, checked once, plus the facts derived from them
// (managed config values, the CA's DER and fingerprint, package names and paths).
import { createHash, X509Certificate } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { validateSource, type HeimdallConfig } from '../../agent/src/config/index.ts';

export interface AppSettingsInput {
  app: string;
  /** The admin's file, as given (JSON for Claude Code, TOML for Codex). */
  text: string;
  file: string;
}

export interface GenerateOptions {
  gatewayUrl: string;
  organization: string;
  supportUrl?: string;
  controlUrl?: string;
  /** PEM of the fleet CA (gateway-held CA mode); absent means local-CA mode. */
  caPem?: string;
  /** Heimdall's Apple Developer Team ID, when the release is signed: narrows the login-item rules. */
  teamId?: string;
  /** Built packages (`npm run package` output), recognised by their artifact names. */
  packages?: string[];
  /** Where the packages are hosted for download by JumpCloud / Linux scripts (no trailing name). */
  packageUrl?: string;
  appSettings?: AppSettingsInput[];
  /** local_targets_allowed entries, as the admin wrote them (the agent's validator checks each). */
  localTargetsAllowed?: string[];
  /** Certificate and key that sign the .mobileconfig files (CMS); the key is never written out. */
  signing?: { certPem: string; keyPem: string };
  /** package.json version: the packages' names carry it. */
  version: string;
  /** How the guides name the output folder (the --out the admin gave). */
  outLabel: string;
}

export interface FleetCa {
  pem: string;
  der: Buffer;
  sha256: string;
  subject: string;
}

export type ArtifactTarget = 'deb-amd64' | 'deb-arm64' | 'rpm-x86_64' | 'rpm-aarch64' | 'pkg-arm64' | 'pkg-x64' | 'msi-x64' | 'msi-arm64';

export interface DeploymentContext {
  options: GenerateOptions;
  /** The managed settings every platform receives: the agent's own keys and value types. */
  config: Partial<HeimdallConfig>;
  ca: FleetCa | undefined;
  artifacts: Record<ArtifactTarget, string>;
  /** Paths of the packages the admin passed, by target. */
  packagePaths: Partial<Record<ArtifactTarget, string>>;
}

/** The file names `npm run package` writes to dist/packages/ (HELPERS contract). */
export function artifactNames(version: string): Record<ArtifactTarget, string> {
  return {
    'deb-amd64': `heimdall_${version}_amd64.deb`,
    'deb-arm64': `heimdall_${version}_arm64.deb`,
    'rpm-x86_64': `heimdall-${version}-1.x86_64.rpm`,
    'rpm-aarch64': `heimdall-${version}-1.aarch64.rpm`,
    'pkg-arm64': `heimdall-${version}-darwin-arm64.pkg`,
    'pkg-x64': `heimdall-${version}-darwin-x64.pkg`,
    'msi-x64': `heimdall-${version}-win-x64.msi`,
    'msi-arm64': `heimdall-${version}-win-arm64.msi`,
  };
}

export class GenerateInputError extends Error {}

function readFleetCa(pem: string): FleetCa {
  if (/PRIVATE KEY-----/.test(pem)) {
    throw new GenerateInputError('--ca: the file holds a private key; pass the CA certificate alone (the key stays on the gateway, and nothing generated here may carry it)');
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new GenerateInputError(`--ca: not a PEM certificate (${(err as Error).message}); pass the fleet CA's certificate, e.g. the gateway's ca.pem`, { cause: err });
  }
  if (!cert.ca) throw new GenerateInputError(`--ca: the certificate "${cert.subject}" is not a CA (basicConstraints CA:FALSE); pass the fleet CA that signs the interception leaves`);
  const der = cert.raw;
  return { pem: cert.toString(), der, sha256: createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':'), subject: cert.subject.replace(/\n/g, ', ') };
}

function recognisePackages(paths: readonly string[], artifacts: Record<ArtifactTarget, string>, version: string): Partial<Record<ArtifactTarget, string>> {
  const byName = new Map(Object.entries(artifacts).map(([target, name]) => [name, target as ArtifactTarget]));
  const out: Partial<Record<ArtifactTarget, string>> = {};
  for (const p of paths) {
    const target = byName.get(path.basename(p));
    if (!target) {
      throw new GenerateInputError(`--package ${p}: not the name of a Heimdall ${version} package; expected one of ${Object.values(artifacts).join(', ')} (from dist/packages/ after \`npm run package\`)`);
    }
    try {
      accessSync(p, constants.R_OK);
    } catch (err) {
      throw new GenerateInputError(`--package ${p}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
    out[target] = p;
  }
  return out;
}

export function buildContext(options: GenerateOptions): DeploymentContext {
  const ca = options.caPem === undefined ? undefined : readFleetCa(options.caPem);
  const raw: Record<string, unknown> = { gateway_url: options.gatewayUrl, organization: options.organization, ca_mode: ca ? 'gateway' : 'local' };
  if (options.supportUrl !== undefined) raw['support_url'] = options.supportUrl;
  if (options.controlUrl !== undefined) raw['control_url'] = options.controlUrl;
  if (options.localTargetsAllowed !== undefined && options.localTargetsAllowed.length > 0) raw['local_targets_allowed'] = options.localTargetsAllowed;
  // The agent's own validator: a value it would reject on the device is rejected here, by the admin.
  const checked = validateSource('the generator inputs', raw, 'typed');
  const errors = checked.problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) throw new GenerateInputError(errors.map((p) => p.message).join('\n'));
  if (options.teamId !== undefined && !/^[A-Z0-9]{10}$/.test(options.teamId)) {
    throw new GenerateInputError(`--team-id ${JSON.stringify(options.teamId)}: an Apple Team ID is 10 upper-case letters and digits (see the pkg's signature: pkgutil --check-signature)`);
  }
  const artifacts = artifactNames(options.version);
  return { options, config: checked.values, ca, artifacts, packagePaths: recognisePackages(options.packages ?? [], artifacts, options.version) };
}
