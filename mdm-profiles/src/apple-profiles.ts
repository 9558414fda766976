// The macOS configuration profiles, as data: each profile is a list of payloads, each payload a
// type plus its content. Top-level and payload bookkeeping (identifiers, UUIDs, scope) is added in
// one place, so every profile gets the same System scope and org-derived, stable UUIDs.
import { build as buildPlistText } from 'plist';
import type { DeploymentContext } from './context.ts';
import { managedPreferences } from './managed-settings.ts';
import { payloadUuid } from './uuid.ts';

export const PROFILE_ID_PREFIX = 'io.heimdall.agent.profile';
const DAEMON_LABEL = 'io.heimdall.agent';
const HELPER_LABEL = 'io.heimdall.agent.helper';
export const PREFERENCE_DOMAIN = 'io.heimdall.agent';

type PlistValue = string | number | boolean | Buffer | PlistValue[] | { [key: string]: PlistValue };
type PlistDict = { [key: string]: PlistValue };

export interface PayloadSpec {
  /** Last part of the PayloadIdentifier, unique within the profile. */
  id: string;
  type: string;
  displayName: string;
  content: PlistDict;
}

export interface ProfileSpec {
  /** File name stem and last part of the profile's PayloadIdentifier. */
  name: string;
  displayName: string;
  description: string;
  payloads: PayloadSpec[];
}

// "Forced" managed preferences for one domain: the shape com.apple.ManagedClient.preferences takes.
function forcedPreferences(domains: Record<string, PlistDict>): PlistDict {
  return Object.fromEntries(Object.entries(domains).map(([domain, settings]) => [domain, { Forced: [{ mcx_preference_settings: settings }] }]));
}

// How each app's own managed-settings file becomes its preference domain's values.
interface AppSettingsRow {
  domain: string;
  displayName: string;
  toSettings(text: string, file: string): PlistDict;
}

export const APP_SETTINGS: Record<string, AppSettingsRow> = {
  // Claude Code reads its managed settings (the settings.json keys) from this domain.
  'claude-code': {
    domain: 'com.anthropic.claudecode',
    displayName: 'Claude Code managed settings',
    toSettings(text, file) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new Error(`--app-settings claude-code=${file}: not valid JSON (${(err as Error).message}); pass a managed-settings.json`, { cause: err });
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`--app-settings claude-code=${file}: the top level must be an object of settings`);
      return parsed as PlistDict;
    },
  },
  // Codex reads admin-enforced requirements as a base64 requirements.toml in this key.
  codex: {
    domain: 'com.openai.codex',
    displayName: 'Codex managed requirements',
    toSettings: (text) => ({ requirements_toml_base64: Buffer.from(text, 'utf8').toString('base64') }),
  },
};

/** Every profile this deployment needs, in the order an admin should deploy them. */
export function profileSpecs(ctx: DeploymentContext): ProfileSpec[] {
  const org = ctx.options.organization;
  const specs: ProfileSpec[] = [];
  if (ctx.ca) {
    specs.push({
      name: 'heimdall-ca',
      displayName: `${org} Heimdall fleet CA`,
      description: 'Trusts the CA with which the Heimdall gateway signs the certificates of governed AI services.',
      payloads: [{ id: 'ca', type: 'com.apple.security.root', displayName: 'Heimdall fleet CA', content: { PayloadCertificateFileName: 'heimdall-ca.cer', PayloadContent: ctx.ca.der } }],
    });
  }
  specs.push({
    name: 'heimdall-settings',
    displayName: `${org} Heimdall settings`,
    description: "Forced values of the Heimdall agent's preference domain: the gateway, the organization and the CA mode.",
    payloads: [{ id: 'settings', type: 'com.apple.ManagedClient.preferences', displayName: 'Heimdall settings', content: { PayloadContent: forcedPreferences({ [PREFERENCE_DOMAIN]: managedPreferences(ctx.config) }) } }],
  });
  const team = ctx.options.teamId;
  const labelRule = (label: string, comment: string): PlistDict => ({ RuleType: 'Label', RuleValue: label, Comment: comment, ...(team ? { TeamIdentifier: team } : {}) });
  specs.push({
    name: 'heimdall-login-items',
    displayName: `${org} Heimdall background items`,
    description: 'Marks the Heimdall daemon and its per-user helper as managed login items, so people see no "Background Items Added" prompt and cannot turn them off.',
    payloads: [{
      id: 'login-items',
      type: 'com.apple.servicemanagement',
      displayName: 'Heimdall background items',
      content: { Rules: [labelRule(DAEMON_LABEL, 'Heimdall daemon'), labelRule(HELPER_LABEL, 'Heimdall per-user helper'), ...(team ? [{ RuleType: 'TeamIdentifier', RuleValue: team, Comment: 'Heimdall releases' }] : [])] },
    }],
  });
  const pacPort = ctx.config.pac_port ?? ctx.config.proxy_port ?? 7420;
  specs.push({
    name: 'heimdall-proxy',
    displayName: `${org} Heimdall proxy auto-configuration`,
    description: "Points the system proxy at Heimdall's PAC file on loopback; it sends only AI services to the local proxy.",
    payloads: [{ id: 'proxy', type: 'com.apple.proxy.http.global', displayName: 'Heimdall PAC', content: { ProxyType: 'Auto', ProxyPACURL: `http://127.0.0.1:${pacPort}/proxy.pac` } }],
  });
  // QUIC (HTTP/3 over UDP) would bypass a TCP proxy; both browsers fall back to TCP when it is off.
  specs.push({
    name: 'heimdall-quic-off',
    displayName: `${org} QUIC off in Chrome and Edge`,
    description: 'Turns QUIC off in Google Chrome and Microsoft Edge so their AI traffic uses TCP through the proxy.',
    payloads: [{ id: 'quic', type: 'com.apple.ManagedClient.preferences', displayName: 'QUIC off', content: { PayloadContent: forcedPreferences({ 'com.google.Chrome': { QuicAllowed: false }, 'com.microsoft.Edge': { QuicAllowed: false } }) } }],
  });
  for (const input of ctx.options.appSettings ?? []) {
    const row = APP_SETTINGS[input.app];
    if (!row) throw new Error(`--app-settings ${input.app}=...: unknown app; expected one of ${Object.keys(APP_SETTINGS).join(', ')}`);
    specs.push({
      name: `heimdall-app-${input.app}`,
      displayName: `${org} ${row.displayName}`,
      description: `Forced values of ${row.domain}, from ${input.file}.`,
      payloads: [{ id: `app-${input.app}`, type: 'com.apple.ManagedClient.preferences', displayName: row.displayName, content: { PayloadContent: forcedPreferences({ [row.domain]: row.toSettings(input.text, input.file) }) } }],
    });
  }
  return specs;
}

/** The profile as a dictionary with every bookkeeping key filled in. */
export function profileDictionary(spec: ProfileSpec, organization: string): PlistDict {
  const profileId = `${PROFILE_ID_PREFIX}.${spec.name}`;
  return {
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: profileId,
    PayloadUUID: payloadUuid(organization, profileId),
    PayloadDisplayName: spec.displayName,
    PayloadDescription: spec.description,
    PayloadOrganization: organization,
    PayloadScope: 'System',
    TargetDeviceType: 5,
    PayloadContent: spec.payloads.map((p) => {
      const id = `${profileId}.${p.id}`;
      return {
        PayloadType: p.type,
        PayloadVersion: 1,
        PayloadIdentifier: id,
        PayloadUUID: payloadUuid(organization, id),
        PayloadDisplayName: p.displayName,
        PayloadOrganization: organization,
        ...p.content,
      };
    }),
  };
}

export function buildPlist(value: PlistDict): string {
  return `${buildPlistText(value)}\n`;
}

/** The settings alone as a plist: what Jamf's and Kandji's "custom settings" upload takes. */
export function settingsPlist(ctx: DeploymentContext): string {
  return buildPlist(managedPreferences(ctx.config));
}
