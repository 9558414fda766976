// "One table feeds both": what the generator writes for each platform, read back by the agent's
// own config readers, yields exactly the intended config, for every key in the agent's table.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DOMParser, type Element } from '@xmldom/xmldom';
import {
  CONFIG_KEY_NAMES,
  interpretRegQuery,
  macosManagedPreferencesSource,
  managedFileSource,
  validateSource,
  type HeimdallConfig,
  type SourceRead,
} from '../../agent/src/config/index.ts';
import {
  artifactNames,
  buildAdmx,
  buildPlist,
  generateFiles,
  managedFileJson,
  omaUriSettings,
  profileDictionary,
  profileSpecs,
  registryFile,
  type DeploymentContext,
} from '../../mdm-profiles/src/index.ts';
import { baseOptions, cleanup, parseWithPlistlib, tempDir } from './helpers.ts';

const dirs: string[] = [];
afterEach(() => cleanup(dirs));

// Every key the agent knows, each set to a value other than its default.
const FULL: HeimdallConfig = {
  gateway_url: 'https://ai-gw.acme.example',
  control_url: 'wss://control.acme.example',
  organization: 'Acme "R&D" <Corp>',
  support_url: 'mailto:ai-help@acme.example',
  proxy_port: 7500,
  pac_port: 7501,
  metrics_port: 9464,
  log_level: 'debug',
  intercept: false,
  ca_mode: 'gateway',
  local_targets_allowed: ['127.0.0.1:5432', '[::1]:8080', '169.254.169.254'],
};

function fullContext(): DeploymentContext {
  return { options: baseOptions(), config: FULL, ca: undefined, artifacts: artifactNames('0.1.0'), packagePaths: {} };
}

function validated(read: SourceRead, flavor: 'typed' | 'registry', ignored?: (k: string) => boolean) {
  expect(read.status).toBe('ok');
  if (read.status !== 'ok') throw new Error('unreachable');
  return validateSource('test', read.values, flavor, ignored);
}

type PrefsProfile = { PayloadContent: Array<{ PayloadContent: Record<string, { Forced: Array<{ mcx_preference_settings: Record<string, unknown> }> }> }> };

/** macOS writes the forced settings of a domain to /Library/Managed Preferences/<domain>.plist, as a binary plist. */
function managedPreferencesFileFrom(profileFile: string, dir: string): string {
  const profile = parseWithPlistlib(profileFile) as PrefsProfile;
  const settings = profile.PayloadContent[0]!.PayloadContent['io.heimdall.agent']!.Forced[0]!.mcx_preference_settings;
  const out = path.join(dir, 'io.heimdall.agent.plist');
  execFileSync('python3', ['-c', 'import plistlib,json,sys; plistlib.dump(json.loads(sys.argv[1]), open(sys.argv[2],"wb"), fmt=plistlib.FMT_BINARY)', JSON.stringify(settings), out]);
  return out;
}

describe('one table feeds both: the generated settings, read by the agent', () => {
  it('the table in the test covers every key the agent knows', () => {
    expect(Object.keys(FULL)).toEqual(CONFIG_KEY_NAMES);
  });

  it('macOS: the settings profile, as macOS writes it to Managed Preferences, yields every key through the agent\'s reader', async () => {
    const dir = tempDir(dirs);
    const spec = profileSpecs(fullContext()).find((s) => s.name === 'heimdall-settings')!;
    const profileFile = path.join(dir, 'settings.mobileconfig');
    writeFileSync(profileFile, buildPlist(profileDictionary(spec, 'Acme')));
    const source = macosManagedPreferencesSource(managedPreferencesFileFrom(profileFile, dir));
    const result = validated(await source.read(), 'typed', (k) => source.ignoredKey?.(k) ?? false);
    expect(result.problems).toEqual([]);
    expect(result.values).toEqual(FULL);
  });

  it('macOS: the profile generated from the command\'s inputs carries them, in local-CA mode when no --ca is given', async () => {
    const dir = tempDir(dirs);
    const files = generateFiles(baseOptions());
    const profile = files.find((f) => f.path === 'macos/heimdall-settings.mobileconfig')!;
    const profileFile = path.join(dir, 'p.mobileconfig');
    writeFileSync(profileFile, profile.content);
    const source = macosManagedPreferencesSource(managedPreferencesFileFrom(profileFile, dir));
    const result = validated(await source.read(), 'typed');
    expect(result.values).toEqual({ gateway_url: 'https://ai-gw.acme.example', organization: 'Acme Corp', support_url: 'https://help.acme.example/ai', ca_mode: 'local' });
  });

  it('Windows: the OMA-URI rows applied through the ADMX give registry values the agent\'s reg query parser reads back as every key', () => {
    const admx = buildAdmx();
    const registry = applyOmaUri(admx, omaUriSettings(FULL, admx));
    const result = validated(interpretRegQuery({ exitCode: 0, stdout: regQueryOutput(registry), stderr: '' }), 'registry');
    expect(result.problems).toEqual([]);
    expect(result.values).toEqual(FULL);
    // Booleans and ports are DWORDs, text is REG_SZ, as the ADMX says.
    expect(registry.get('intercept')).toEqual({ type: 'REG_DWORD', value: 0 });
    expect(registry.get('proxy_port')).toEqual({ type: 'REG_DWORD', value: 7500 });
    expect(registry.get('ca_mode')).toEqual({ type: 'REG_SZ', value: 'gateway' });
    expect(registry.get('local_targets_allowed')).toEqual({ type: 'REG_MULTI_SZ', value: ['127.0.0.1:5432', '[::1]:8080', '169.254.169.254'] });
  });

  it('Windows: the .reg file holds the same values', () => {
    const reg = registryFile(FULL);
    const values = new Map<string, RegValue>();
    for (const m of reg.matchAll(/^"([^"]+)"=(?:dword:([0-9a-f]{8})|"((?:[^"\\]|\\.)*)"|hex\(7\):([0-9a-f,]+))\r$/gm)) {
      if (m[2] !== undefined) values.set(m[1]!, { type: 'REG_DWORD', value: Number.parseInt(m[2], 16) });
      else if (m[3] !== undefined) values.set(m[1]!, { type: 'REG_SZ', value: m[3].replace(/\\(.)/g, '$1') });
      else {
        // UTF-16LE strings, each ending in NUL, the list ending in one more NUL.
        const text = Buffer.from(m[4]!.split(',').map((h) => Number.parseInt(h, 16))).toString('utf16le');
        expect(text.endsWith('\0\0')).toBe(true);
        values.set(m[1]!, { type: 'REG_MULTI_SZ', value: text.slice(0, -2).split('\0') });
      }
    }
    expect(values.size).toBe(Object.keys(FULL).length);
    expect(reg.startsWith('Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Heimdall]\r\n')).toBe(true);
    const result = validated(interpretRegQuery({ exitCode: 0, stdout: regQueryOutput(values), stderr: '' }), 'registry');
    expect(result.values).toEqual(FULL);
  });

  it('Linux: the managed file yields every key through the agent\'s reader', async () => {
    const dir = tempDir(dirs);
    const file = path.join(dir, 'config.json');
    writeFileSync(file, managedFileJson(FULL));
    const result = validated(await managedFileSource(file).read(), 'typed');
    expect(result.problems).toEqual([]);
    expect(result.values).toEqual(FULL);
  });
});

// ---- What Windows does with an ingested ADMX and the OMA-URI rows (per Microsoft's ADMX-backed
// policy rules): <enabled/> writes each <data id=...> to its element's valueName with the element's
// type; a policy's own valueName takes enabledValue / disabledValue. ----

type RegValue = { type: 'REG_SZ'; value: string } | { type: 'REG_DWORD'; value: number } | { type: 'REG_MULTI_SZ'; value: string[] };

function applyOmaUri(admxText: string, rows: ReturnType<typeof omaUriSettings>): Map<string, RegValue> {
  const admx = new DOMParser().parseFromString(admxText, 'text/xml');
  const policies = Array.from(admx.getElementsByTagName('policy'));
  const out = new Map<string, RegValue>();
  const [ingest, ...settings] = rows;
  expect(ingest!.omaUri).toBe('./Device/Vendor/MSFT/Policy/ConfigOperations/ADMXInstall/Heimdall/Policy/HeimdallAdmx');
  expect(ingest!.value).toBe(admxText);
  for (const row of settings) {
    const m = /^\.\/Device\/Vendor\/MSFT\/Policy\/Config\/Heimdall~Policy~([^/]+)\/([^/]+)$/.exec(row.omaUri);
    expect(m, row.omaUri).not.toBeNull();
    const policy = policies.find((p) => p.getAttribute('name') === m![2]);
    expect(policy, `policy ${m![2]}`).toBeDefined();
    expect(policy!.getElementsByTagName('parentCategory')[0]!.getAttribute('ref')).toBe(m![1]);
    expect(policy!.getAttribute('key')).toBe('SOFTWARE\\Policies\\Heimdall');
    const doc = new DOMParser().parseFromString(`<r>${row.value}</r>`, 'text/xml');
    const enabled = doc.getElementsByTagName('enabled').length === 1;
    expect(enabled || doc.getElementsByTagName('disabled').length === 1).toBe(true);
    const own = policy!.getAttribute('valueName');
    if (own) {
      const holder = policy!.getElementsByTagName(enabled ? 'enabledValue' : 'disabledValue')[0]!;
      out.set(own, { type: 'REG_DWORD', value: Number(holder.getElementsByTagName('decimal')[0]!.getAttribute('value')) });
    }
    for (const data of Array.from(doc.getElementsByTagName('data'))) {
      const id = data.getAttribute('id')!;
      const value = data.getAttribute('value')!;
      const element = Array.from(policy!.getElementsByTagName('elements')[0]!.childNodes).find((n) => (n as Element).getAttribute?.('id') === id) as Element;
      expect(element, `element ${id}`).toBeDefined();
      const valueName = element.getAttribute('valueName')!;
      const kinds: Record<string, () => RegValue> = {
        text: () => ({ type: 'REG_SZ', value }),
        // The value attribute holds the entries separated by U+F000 (a character reference the XML parser decodes).
        multiText: () => ({ type: 'REG_MULTI_SZ', value: value.split('\uF000') }),
        decimal: () => ({ type: 'REG_DWORD', value: Number(value) }),
        enum: () => {
          const item = Array.from(element.getElementsByTagName('string')).find((s) => s.textContent === value);
          expect(item, `enum ${id} item ${value}`).toBeDefined();
          return { type: 'REG_SZ', value };
        },
      };
      out.set(valueName, kinds[element.tagName]!());
    }
  }
  return out;
}

/** reg.exe's text for `reg query HKLM\SOFTWARE\Policies\Heimdall` with these values. */
function regQueryOutput(values: Map<string, RegValue>): string {
  const shown = (v: RegValue): string => (v.type === 'REG_DWORD' ? `0x${v.value.toString(16)}` : v.type === 'REG_MULTI_SZ' ? v.value.join('\\0') : v.value);
  const lines = [...values].map(([name, v]) => `    ${name}    ${v.type}    ${shown(v)}`);
  return `\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Heimdall\r\n${lines.join('\r\n')}\r\n\r\n`;
}
