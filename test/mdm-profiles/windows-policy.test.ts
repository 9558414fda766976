// The ADMX/ADML pair against the format's documented rules (no XSD is reachable here): namespaces,
// required elements, every string and presentation reference resolved, registry keys and types.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DOMParser, type Document, type Element } from '@xmldom/xmldom';
import { CONFIG_KEY_NAMES, CONFIG_KEYS } from '../../agent/src/config/index.ts';
import { buildAdml, buildAdmx, omaUriSettings, omaUriSyncMl } from '../../mdm-profiles/src/index.ts';
import { cleanup, tempDir } from './helpers.ts';

const dirs: string[] = [];
afterEach(() => cleanup(dirs));

const NS = 'http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions';
const parse = (text: string) => new DOMParser().parseFromString(text, 'text/xml');
const all = (node: Document | Element, tag: string): Element[] => Array.from(node.getElementsByTagNameNS(NS, tag));
const children = (node: Element): Element[] => Array.from(node.childNodes).filter((n): n is Element => n.nodeType === 1);

describe('ADMX / ADML', () => {
  it('are well-formed, in the PolicyDefinitions namespace, with the required elements', () => {
    const dir = tempDir(dirs);
    writeFileSync(path.join(dir, 'heimdall.admx'), buildAdmx());
    writeFileSync(path.join(dir, 'heimdall.adml'), buildAdml());
    execFileSync('xmllint', ['--noout', path.join(dir, 'heimdall.admx'), path.join(dir, 'heimdall.adml')]);
    const admx = parse(buildAdmx()).documentElement!;
    const adml = parse(buildAdml()).documentElement!;
    expect([admx.localName, admx.namespaceURI, admx.getAttribute('revision'), admx.getAttribute('schemaVersion')]).toEqual(['policyDefinitions', NS, '1.0', '1.0']);
    expect([adml.localName, adml.namespaceURI, adml.getAttribute('revision'), adml.getAttribute('schemaVersion')]).toEqual(['policyDefinitionResources', NS, '1.0', '1.0']);
    expect(children(admx).map((e) => e.localName)).toEqual(['policyNamespaces', 'resources', 'supportedOn', 'categories', 'policies']);
    const target = all(admx.ownerDocument!, 'target')[0]!;
    expect(target.getAttribute('prefix')).toBeTruthy();
    expect(target.getAttribute('namespace')).toMatch(/^[\w.]+$/);
    expect(all(admx.ownerDocument!, 'resources')[0]!.getAttribute('minRequiredRevision')).toBe('1.0');
    expect(children(adml).map((e) => e.localName)).toEqual(['displayName', 'description', 'resources']);
  });

  it('resolves every string and presentation reference in the ADML, and every presentation control names an element of its policy', () => {
    const admx = parse(buildAdmx());
    const adml = parse(buildAdml());
    const strings = all(adml, 'string').map((s) => s.getAttribute('id')!);
    expect(new Set(strings).size).toBe(strings.length);
    const presentations = new Map(all(adml, 'presentation').map((p) => [p.getAttribute('id')!, p]));
    const refs = [...buildAdmx().matchAll(/\$\((string|presentation)\.([^)]+)\)/g)];
    expect(refs.length).toBeGreaterThan(CONFIG_KEY_NAMES.length * 2);
    for (const [, table, id] of refs) {
      if (table === 'string') expect(strings, `$(string.${id})`).toContain(id);
      else expect(presentations.has(id!), `$(presentation.${id})`).toBe(true);
    }
    const categories = all(admx, 'category').map((c) => c.getAttribute('name'));
    const supported = all(admx, 'definition').map((d) => d.getAttribute('name'));
    for (const policy of all(admx, 'policy')) {
      expect(categories).toContain(all(policy, 'parentCategory')[0]!.getAttribute('ref'));
      expect(supported).toContain(all(policy, 'supportedOn')[0]!.getAttribute('ref'));
      const elementIds = all(policy, 'elements').flatMap((e) => children(e)).map((e) => e.getAttribute('id'));
      const presentationRef = /^\$\(presentation\.(.+)\)$/.exec(policy.getAttribute('presentation') ?? '')?.[1];
      expect(presentationRef === undefined, `${policy.getAttribute('name')}: a presentation exactly when there are elements`).toBe(elementIds.length === 0);
      if (presentationRef) {
        const controls = children(presentations.get(presentationRef)!);
        expect(controls.map((c) => c.getAttribute('refId')).sort()).toEqual([...elementIds].sort());
      }
    }
  });

  it('has one Machine policy per agent key, under HKLM\\SOFTWARE\\Policies\\Heimdall, with the registry type the agent reads', () => {
    const policies = all(parse(buildAdmx()), 'policy');
    expect(policies.map((p) => p.getAttribute('name'))).toEqual(CONFIG_KEY_NAMES);
    // The element (or enabled/disabled value) each kind must use.
    const expected: Record<string, string> = { url: 'text', string: 'text', port: 'decimal', enum: 'enum', boolean: 'enabledValue/decimal', list: 'multiText' };
    for (const policy of policies) {
      const key = policy.getAttribute('name') as (typeof CONFIG_KEY_NAMES)[number];
      expect(policy.getAttribute('class')).toBe('Machine');
      expect(policy.getAttribute('key')).toBe('SOFTWARE\\Policies\\Heimdall');
      const element = all(policy, 'elements').flatMap((e) => children(e))[0];
      const shape = element ? element.localName : `enabledValue/${children(all(policy, 'enabledValue')[0]!)[0]!.localName}`;
      expect(shape, key).toBe(expected[CONFIG_KEYS[key].type.kind]);
      expect(element?.getAttribute('valueName') ?? policy.getAttribute('valueName')).toBe(key);
      const type = CONFIG_KEYS[key].type;
      if (type.kind === 'port') expect([element!.getAttribute('minValue'), element!.getAttribute('maxValue')]).toEqual(['1', '65535']);
      if (type.kind === 'enum') expect(all(element!, 'string').map((s) => s.textContent)).toEqual(type.values);
      if (type.kind === 'list') expect(element!.getAttribute('maxStrings')).toBe(String(type.maxItems));
    }
  });

  it('the SyncML carries each OMA-URI row once, in order, with its value escaped', () => {
    const admx = buildAdmx();
    const rows = omaUriSettings({ gateway_url: 'https://gw.acme.example', organization: 'A & B <Corp>' }, admx);
    const doc = new DOMParser().parseFromString(omaUriSyncMl(rows), 'text/xml');
    const items = Array.from(doc.getElementsByTagName('Item'));
    expect(items.map((i) => i.getElementsByTagName('LocURI')[0]!.textContent)).toEqual(rows.map((r) => r.omaUri));
    expect(items.map((i) => i.getElementsByTagName('Data')[0]!.textContent)).toEqual(rows.map((r) => r.value));
    expect(rows[2]!.value).toBe('<enabled/><data id="organization" value="A &amp; B &lt;Corp&gt;"/>');
  });
});
