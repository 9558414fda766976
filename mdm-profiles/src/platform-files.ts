// The files several vendors share: the macOS profiles, the Windows policy templates, the Linux
// managed file and the CA. Vendors' guides point at these paths instead of copying them.
import type { DeploymentContext } from './context.ts';
import type { GeneratedFile } from './generated-file.ts';
import { buildPlist, profileDictionary, profileSpecs, settingsPlist } from './apple-profiles.ts';
import { managedFileJson } from './managed-settings.ts';
import { signProfile } from './sign.ts';
import { ADML_FILE, ADMX_FILE, buildAdml, buildAdmx, registryFile } from './windows-policy.ts';

export const PATHS = {
  macosDir: 'macos',
  settingsPlist: 'macos/io.heimdall.agent.plist',
  admx: `windows/${ADMX_FILE}`,
  adml: `windows/en-US/${ADML_FILE}`,
  reg: 'windows/heimdall-policy.reg',
  caCer: 'ca/heimdall-ca.cer',
  caPem: 'ca/heimdall-ca.pem',
  linuxConfig: 'linux/config.json',
} as const;

export function profilePath(name: string, signed: boolean): string {
  return `macos/${signed ? 'signed/' : ''}${name}.mobileconfig`;
}

/** The profile names in deploy order (what the guides list). */
export function profileNames(ctx: DeploymentContext): string[] {
  return profileSpecs(ctx).map((s) => s.name);
}

export function platformFiles(ctx: DeploymentContext): GeneratedFile[] {
  const files: GeneratedFile[] = [];
  for (const spec of profileSpecs(ctx)) {
    const xml = buildPlist(profileDictionary(spec, ctx.options.organization));
    files.push({ path: profilePath(spec.name, false), content: xml });
    if (ctx.options.signing) files.push({ path: profilePath(spec.name, true), content: signProfile(xml, ctx.options.signing.certPem, ctx.options.signing.keyPem) });
  }
  files.push({ path: PATHS.settingsPlist, content: settingsPlist(ctx) });
  files.push({ path: PATHS.admx, content: buildAdmx() }, { path: PATHS.adml, content: buildAdml() }, { path: PATHS.reg, content: registryFile(ctx.config) });
  files.push({ path: PATHS.linuxConfig, content: managedFileJson(ctx.config) });
  if (ctx.ca) files.push({ path: PATHS.caCer, content: ctx.ca.der }, { path: PATHS.caPem, content: ctx.ca.pem });
  return files;
}

/** Guide lines shared by the Mac vendors: which profile files to upload, in order. */
export function profileList(ctx: DeploymentContext): string {
  const dir = ctx.options.signing ? 'macos/signed' : 'macos';
  return profileNames(ctx).map((n) => `   - \`${ctx.options.outLabel}/${dir}/${n}.mobileconfig\``).join('\n');
}

/** The CA paragraph every guide has: what gateway-held CA mode deploys, or why local-CA mode needs nothing. */
export function caNote(ctx: DeploymentContext): string {
  return ctx.ca
    ? `Gateway-held CA mode: the fleet CA \`${ctx.ca.subject}\` (SHA-256 \`${ctx.ca.sha256}\`) is deployed as a trusted root, and the settings set \`ca_mode\` to \`gateway\`. Check the fingerprint against your gateway's CA before you upload it.`
    : 'Local-CA mode: each device makes its own interception CA and `heimdall install` trusts it on the device, so no CA is deployed here. Run `heimdall-mdm generate` with `--ca` to use one fleet CA held by the gateway instead.';
}

/** Which package goes where, when the admin passed none. */
export function packageNote(ctx: DeploymentContext, targets: readonly (keyof DeploymentContext['artifacts'])[]): string {
  return targets.map((t) => `\`${ctx.packagePaths[t] ?? `dist/packages/${ctx.artifacts[t]}`}\``).join(', ');
}
